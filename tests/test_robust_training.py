"""Train-based defenses: the adversarial examples and losses of host/zoo/robust_training.py,
a tiny real fine-tuning run of each defense, and the committed defended models."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from host import data as datasets
from host import train, zoo
from host.errors import UserError
from host.zoo.entry import DEFENSES, load_spec

BASE = "cifar10-resnet8"


@pytest.fixture(scope="module")
def batch(data_dir):
    """16 CIFAR-10 training images in [0,1] and their labels."""
    images = datasets.load("cifar10", "train", str(data_dir)).take(16)
    return images.x.astype(np.float32) / 255.0, images.y


@pytest.fixture(scope="module")
def base_logits():
    from host.zoo import keras_file, robust_training

    return robust_training.logits_fn(keras_file.load(zoo.model_file(BASE, "float")))


def test_pgd_and_fgsm_stay_within_eps_and_raise_the_loss(batch, base_logits):
    import tensorflow as tf

    from host.zoo import robust_training as rt

    x, y = tf.constant(batch[0]), tf.constant(batch[1])
    p = rt.params("adv-train", "cifar10")
    noise = np.random.default_rng(0).uniform(-p.eps, p.eps, x.shape).astype(np.float32)
    clean = float(rt.cross_entropy(base_logits(x), y))
    for adv in (rt.pgd(base_logits, x, y, noise, p), rt.fgsm(base_logits, x, y, p.eps)):
        distance = float(tf.reduce_max(tf.abs(adv - x)))
        assert p.eps * 0.99 < distance <= p.eps + 1e-6
        assert float(tf.reduce_min(adv)) >= 0 and float(tf.reduce_max(adv)) <= 1
        assert float(rt.cross_entropy(base_logits(adv), y)) > clean + 0.5


def test_sinkhorn_divergence_is_zero_on_itself_and_half_squared_shift(batch, base_logits):
    import tensorflow as tf

    from host.zoo import robust_training as rt

    a = base_logits(tf.constant(batch[0]))
    b = base_logits(tf.constant(batch[0][::-1] * 0.5))  # other images: other logits
    assert abs(float(rt.sinkhorn_divergence(a, a, 1.0, 30))) < 1e-4
    assert float(rt.sinkhorn_divergence(a, b, 1.0, 30)) > 0.1
    shift = tf.constant(np.linspace(-1, 1, 10, dtype=np.float32))
    # a translated cloud: the debiased divergence is exactly |t|^2 / 2 for this cost
    expected = 0.5 * float(tf.reduce_sum(shift**2))
    assert float(rt.sinkhorn_divergence(a, a + shift, 1.0, 30)) == pytest.approx(expected, 1e-3)
    # the SAT examples move the logits away: a positive divergence from the clean batch
    p = rt.params("sinkhorn-adv-train", "cifar10")
    noise = np.random.default_rng(1).uniform(-p.eps, p.eps, batch[0].shape)
    adv = rt.sinkhorn_pgd(base_logits, tf.constant(batch[0]), noise.astype(np.float32), p)
    assert float(tf.reduce_max(tf.abs(adv - batch[0]))) <= p.eps + 1e-6
    moved = rt.sinkhorn_divergence(a, base_logits(adv), 1.0, 30)
    start = rt.sinkhorn_divergence(a, base_logits(tf.clip_by_value(batch[0] + noise, 0, 1)), 1, 30)
    assert float(moved) > float(start) > 0


@pytest.fixture
def eager():
    """Run the training steps eagerly: the same code without the graph tracing (seconds per
    defense; the slow test below runs the compiled steps)."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _tiny(defense: str, out, data_dir, epochs: int = 1):
    return train.train(BASE, 0, epochs, str(data_dir), out, limit=24, defense=defense)


def _check_record(out, defense: str) -> dict:
    from host.zoo import robust_training

    record = json.loads((out / "training.json").read_text())
    assert record["defense"] == defense and record["base"] == BASE
    assert record["defense_parameters"] == asdict(robust_training.params(defense, "cifar10"))
    assert record["train_examples"] == 24 and record["training_seconds"] > 0
    entry = load_spec(out / zoo.ENTRY_FILE)
    assert (entry.base, entry.defense, entry.origin) == (BASE, defense, "own")
    return record


@pytest.mark.parametrize("defense", ["ensemble-adv-train", "distillation", "sinkhorn-adv-train"])
def test_tiny_training_of_a_defense(defense, tmp_path, data_dir, eager):
    import keras

    from host.zoo import keras_file, robust_training

    path = _tiny(defense, tmp_path, data_dir)
    record = _check_record(tmp_path, defense)
    assert len(record["static_models"]) == {"ensemble-adv-train": 2, "distillation": 1}.get(
        defense, 0
    )
    model, base = keras.models.load_model(path), keras_file.load(zoo.model_file(BASE, "float"))
    assert any(  # fine-tuned: the weights moved
        not np.array_equal(w, v)
        for w, v in zip(model.get_weights(), base.get_weights(), strict=True)
    )
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    logits = robust_training.logits_fn(model)(x).numpy()
    # the saved model ends in the softmax at T = 1 of its logits (distillation's T is training only)
    np.testing.assert_allclose(model(x).numpy(), keras.ops.softmax(logits).numpy(), atol=1e-6)


def test_adversarial_training_resumes_after_an_interrupted_epoch(
    tmp_path, data_dir, monkeypatch, eager
):
    from host.zoo import robust_training

    step = robust_training.RobustStep.__call__
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first batch of epoch 2
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(robust_training.RobustStep, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _tiny("adv-train", tmp_path, data_dir, epochs=2)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and not (tmp_path / "training.json").exists()
    monkeypatch.setattr(robust_training.RobustStep, "__call__", step)
    _tiny("adv-train", tmp_path, data_dir, epochs=2)
    record = _check_record(tmp_path, "adv-train")
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["history"][0] == state["history"][0]  # epoch 1 kept, not redone


@pytest.mark.slow
@pytest.mark.parametrize("defense", DEFENSES)
def test_compiled_training_step_of_each_defense(defense, tmp_path, data_dir):
    _tiny(defense, tmp_path, data_dir)
    record = _check_record(tmp_path, defense)
    assert np.isfinite(record["history"][0]["loss"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--defense", "dropout"], "error: unknown defense 'dropout'; known: adv-train"),
        (["--model", "mlperf-resnet8"], "error: argument --model: invalid choice"),
    ],
)
def test_train_cli_rejects_a_bad_defense_or_base(argv, message):
    command = [sys.executable, "-m", "host.train", "--model", BASE, "--defense", "adv-train"]
    result = subprocess.run(command + argv, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_model_toml_needs_base_and_defense_together(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    good = 'architecture = "resnet8"\ndataset = "cifar10"\norigin = "own"\n'
    for extra, message in [
        ('defense = "adv-train"\n', "'base' and 'defense' go together"),
        (f'base = "{BASE}"\ndefense = "mixup"\n', "field 'defense' has 'mixup'"),
    ]:
        (folder / zoo.ENTRY_FILE).write_text(good + extra)
        with pytest.raises(UserError, match=message):
            load_spec(folder / zoo.ENTRY_FILE)


def test_committed_defended_models_match_their_manifests():
    from host.zoo import robust_training

    defended = [e for e in zoo.ZOO.values() if e.defense]
    for entry in defended:
        assert entry.defense in DEFENSES and entry.base in zoo.ZOO
        assert entry.folder.name == f"{entry.base}-{entry.defense}"
        manifest = zoo.read_manifest(entry.name)
        files = {p.name for p in entry.folder.iterdir() if p.suffix in zoo.MODEL_SUFFIXES}
        assert (
            set(manifest["files_sha256"])
            == files
            == {
                "float.keras",
                "int8.tflite",
                "int16.tflite",
            }
        )
        for name, digest in manifest["files_sha256"].items():
            assert datasets.sha256_file(entry.folder / name) == digest, (entry.name, name)
        record = json.loads((entry.folder / "training.json").read_text())
        assert manifest["defense"]["name"] == record["defense"] == entry.defense
        assert manifest["defense"]["parameters"] == record["defense_parameters"]
        current = robust_training.params(entry.defense, entry.dataset)  # reproducible as is
        assert record["defense_parameters"] == asdict(current), entry.name
        assert manifest["training_seconds"] == record["training_seconds"] > 0
        base = zoo.read_manifest(entry.base)["accuracy"]["float"]
        assert manifest["accuracy"]["float"] >= base - 0.15, entry.name  # not destroyed
