"""The own models shipped in models/: accuracy targets, manifests that tell the truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from host import data, zoo
from host.backends import get_backend

# model -> minimum float accuracy on its evaluation split (issue 2's acceptance)
TARGETS = {"cifar10-resnet8": 0.82, "coffee-cnn": 0.88}
MAX_QUANTIZATION_LOSS = 0.015


def _require(name: str) -> dict:
    manifest = zoo.read_manifest(name)
    if not manifest:
        pytest.skip(f"{name} is not trained yet (no models/{name}/manifest.json)")
    return manifest


@pytest.fixture(scope="module", params=sorted(TARGETS))
def measured(request, data_dir):
    """Accuracy measured now, per backend, on the model's evaluation split."""
    name = request.param
    manifest = _require(name)
    entry = zoo.spec(name)
    evaluation = data.load(entry.dataset, entry.eval_split, data_dir)
    x01 = evaluation.x.astype(np.float32) / 255.0
    accuracy = {}
    for backend_name in ("float", "tflm-int8", "tflm-int16", "litert-ref-int8"):
        # TFLite Micro's answers from the engine, byte-exact with it (tests/test_engine.py on
        # these very models) and many times faster on the coffee model's 307 images.
        runtime = backend_name.replace("tflm-", "engine-")
        scores = get_backend(name, runtime).run(x01)
        accuracy[backend_name] = float(np.mean(np.argmax(scores, 1) == evaluation.y))
    return name, manifest, accuracy


def test_float_accuracy_meets_target(measured):
    name, _, accuracy = measured
    assert accuracy["float"] >= TARGETS[name], accuracy


def test_quantized_models_stay_within_one_and_a_half_points(measured):
    _, _, accuracy = measured
    for backend_name in ("tflm-int8", "tflm-int16"):
        assert accuracy[backend_name] >= accuracy["float"] - MAX_QUANTIZATION_LOSS, accuracy


def test_manifest_records_what_is_measured(measured):
    name, manifest, accuracy = measured
    for backend_name, value in accuracy.items():
        assert manifest["accuracy"][backend_name] == pytest.approx(value, abs=1e-4)
    for file_name, digest in manifest["files_sha256"].items():
        path = zoo.model_dir(name) / file_name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, file_name


def test_quantization_follows_the_tflite_micro_policy(measured):
    name, manifest, _ = measured
    int8, int16 = manifest["variants"]["int8"], manifest["variants"]["int16"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["shape"][0] == 1
    assert int8["input"]["zero_point"] == -128
    assert int8["input"]["scale"] == pytest.approx(1 / 255, rel=1e-3)
    assert int16["input"]["dtype"] == "int16" and int16["input"]["zero_point"] == 0
    calibration = manifest["calibration"]
    assert calibration["split"].endswith("/train") and calibration["count"] > 0
    assert manifest["versions"]["tflite-micro"] != "missing"
