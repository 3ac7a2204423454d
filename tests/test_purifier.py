"""PixelDefend: the PixelCNN is causal, trains and reloads, and purifies within eps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from host import data
from host.errors import UserError

purifier = pytest.importorskip("host.defenses.purifier")  # needs TensorFlow


def test_masked_convolution_is_causal():
    """Changing sub-pixel k changes no logit of sub-pixels up to k in raster order (rows,
    columns, R G B), and does change logits after it: the masks make the model autoregressive."""
    import keras

    keras.utils.set_random_seed(3)
    model = purifier.build_pixelcnn()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, 12, 12, 3), dtype=np.uint8)
    before = purifier.pixel_logits(model, x)[0].reshape(-1, purifier.LEVELS)
    for i, j, c in [(0, 0, 0), (5, 6, 1), (7, 11, 2), (11, 3, 0)]:
        changed = x.copy()
        changed[0, i, j, c] ^= 0x80
        after = purifier.pixel_logits(model, changed)[0].reshape(-1, purifier.LEVELS)
        k = (i * 12 + j) * 3 + c  # the raster index of the changed sub-pixel
        moved = np.abs(after - before).max(axis=1)
        assert moved[: k + 1].max() < 1e-5, f"sub-pixel {(i, j, c)} leaks into earlier logits"
        if k + 1 < len(moved):
            assert moved[k + 1 :].max() > 1e-3, f"sub-pixel {(i, j, c)} conditions nothing"


def test_window_logits_equal_whole_image_logits(tmp_path):
    """A purification step's logits, from the window of the pixel's receptive field alone, equal
    the whole image's at the corners, edges and inside, on a model with non-zero biases (so
    values outside the image must be zeroed at every layer as 'same' padding has them)."""
    import keras

    keras.utils.set_random_seed(5)
    model = purifier.build_pixelcnn()
    rng = np.random.default_rng(1)
    for layer in model.get_layer("body").layers + model.get_layer("head").layers:
        if isinstance(layer, purifier.MaskedConv2D):
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape).astype(np.float32))
    model.save(tmp_path / "purifier.keras")
    defense = purifier.Purifier("cifar10", folder=tmp_path)
    for shape, places in [
        ((2, 32, 32, 3), [(0, 0), (5, 30), (20, 3), (31, 31), (15, 16), (7, 7), (8, 0)]),
        ((1, 5, 4, 3), [(i, j) for i in range(5) for j in range(4)]),
    ]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        full = purifier.pixel_logits(model, x)
        for i, j in places:
            np.testing.assert_allclose(defense.logits_at(x, i, j), full[:, i, j], atol=1e-4)


def test_larger_images_are_purified_at_block_means(tmp_path, monkeypatch):
    """An image larger than RESOLUTION (here 4, so that it is quick) is purified as its 2x2 block
    means: each block's pixels move together, and by at most eps."""
    import keras

    keras.utils.set_random_seed(2)
    purifier.build_pixelcnn().save(tmp_path / "purifier.keras")
    defense = purifier.Purifier("coffee", eps=6, folder=tmp_path)
    monkeypatch.setattr(purifier, "RESOLUTION", 4)
    x = np.random.default_rng(3).integers(20, 236, (2, 8, 8, 3)) / 255.0
    change = np.round((defense.pixels(x) - x) * 255.0).astype(int)
    assert np.abs(change).max() <= 6 and change.any()
    blocks = change.reshape(2, 4, 2, 4, 2, 3)
    assert (blocks == blocks[:, :, :1, :, :1]).all()


def test_tiny_training_writes_a_purifier(tmp_path, data_dir):
    """A few dozen images, one epoch: the model and its record are written and it reloads as
    a purifier."""
    path = purifier.train_purifier("cifar10", seed=1, epochs=1, limit=32, out_dir=tmp_path)
    record = json.loads((tmp_path / "training.json").read_text())
    assert path == tmp_path / "purifier.keras" and path.is_file()
    assert record["seed"] == 1 and record["images"] == 32 and record["epochs"] == 1
    assert 0 < record["bits_per_dim"] < 9 and record["seconds"] > 0
    defense = purifier.Purifier("cifar10", eps=4, folder=tmp_path)
    assert defense.name == "purify4" and defense.eps == 4


@pytest.fixture(scope="module")
def committed():
    try:
        return purifier.Purifier("cifar10")
    except UserError:
        pytest.skip("no committed CIFAR-10 purifier (python -m host.purify --dataset cifar10)")


def test_purification_is_bounded_deterministic_and_removes_noise(committed, data_dir):
    """On 16x16 crops of real test images: every value moves by at most eps 8-bit levels, the
    same input gives the same output, and (PixelDefend's premise) purification makes images
    with strong random noise far more likely under the PixelCNN than it makes clean ones, and
    brings them back towards the clean images. Measured (committed purifier): bits/dim drops of
    0.3-1.1 on clean crops, 6.5-8.2 on noisy ones; noisy ones from 23-24 to 12-14 levels (mean
    absolute difference) of the clean ones."""
    clean = data.load("cifar10", "test", data_dir).x[:3, :16, :16]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.choice([-24, 24], clean.shape), 0, 255).astype(np.uint8)
    batch = np.concatenate([clean, noisy]) / 255.0
    out = committed.pixels(batch)
    assert out.shape == batch.shape and out.dtype == np.float32
    assert np.abs(out * 255.0 - batch * 255.0).max() <= committed.eps + 1e-3
    np.testing.assert_array_equal(committed.pixels(batch), out)

    model = purifier._load(purifier.PURIFIERS / "cifar10" / "purifier.keras")
    levels = np.round(np.concatenate([batch, out]) * 255.0).astype(np.uint8)
    bits = np.array([purifier.bits_per_dim(model, image[None]) for image in levels])
    drop = (bits[:6] - bits[6:]).reshape(2, 3)  # rows: clean, noisy
    assert (drop > 0).all() and drop[1].min() > 3 * drop[0].max(), drop
    distance = np.abs(levels.astype(int) - np.tile(clean, (4, 1, 1, 1))).mean(axis=(1, 2, 3))
    assert (distance[9:] < 0.75 * distance[3:6]).all(), distance  # purified noisy vs noisy


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(UserError, match=r"no purifier trained for vww \(python -m host.purify"):
        purifier.Purifier("vww")
    with pytest.raises(UserError, match="eps must be"):
        purifier.Purifier("cifar10", eps=300)
    result = subprocess.run(
        [sys.executable, "-m", "host.purify", "--dataset", "vww"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: argument --dataset: invalid choice")
