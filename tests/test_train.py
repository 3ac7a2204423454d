"""Training: a small real run on a slice, resumed from its checkpoint, then quantized."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from host import train
from host.errors import UserError


def test_augment_keeps_shape_and_pixels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    out = train.augment(x, train.RECIPES["cifar10-resnet8"], rng)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert not np.array_equal(out, x)  # crops and flips moved pixels


def test_learning_rate_warms_up_then_decays():
    recipe = train.RECIPES["cifar10-resnet8"]
    rates = [train.learning_rate(recipe, e) for e in range(recipe.epochs)]
    assert rates[0] < rates[2] == max(rates) and rates[-1] < 0.01 * max(rates)


def test_small_training_run_resumes_and_converts(tmp_path, data_dir):
    from host.quantize import convert

    out = tmp_path / "model"
    train.train("cifar10-resnet8", 0, 1, str(data_dir), out, limit=256)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1
    train.train("cifar10-resnet8", 0, 2, str(data_dir), out, limit=256)  # resumes at epoch 2
    record = json.loads((out / "training.json").read_text())
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    try:
        train.train("cifar10-resnet8", 1, 2, str(data_dir), out, limit=256)
    except UserError as error:
        assert "another seed" in str(error)
    else:
        raise AssertionError("a different seed must not resume another run's checkpoint")

    import keras

    from host.zoo.architectures import rebatch

    model = rebatch(keras.models.load_model(out / "float.keras"), "resnet8")
    calibration = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    flatbuffer = convert(model, calibration, "int8")
    assert flatbuffer[4:8] == b"TFL3"


def test_train_cli_rejects_bad_options():
    result = subprocess.run(
        [sys.executable, "-m", "host.train", "--model", "cifar10-resnet8", "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --epochs must be positive")
