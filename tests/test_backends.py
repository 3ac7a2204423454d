"""Backends on the real MLPerf Tiny models and data: input quantization, accuracy, batching."""

from __future__ import annotations

import numpy as np
import pytest

from host import backends, data
from host.backends.base import quantize_input, round_half_away_from_zero
from host.errors import UserError


@pytest.fixture(scope="module")
def cifar(data_dir):
    return data.load("cifar10", "test", data_dir)


@pytest.fixture(scope="module")
def vww(data_dir):
    return data.load("vww", "eval", data_dir)


def accuracy(backend: backends.Backend, dataset: data.Dataset) -> float:
    raw = backend.run(dataset.x.astype(np.float32) / 255.0)
    return 100.0 * float(np.mean(raw.argmax(axis=1) == dataset.y))


def test_rounding_is_half_away_from_zero():
    values = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, 2.4, -2.6], dtype=np.float32)
    assert round_half_away_from_zero(values).tolist() == [1, 2, 3, -1, -3, 0, 2, -3]


def test_quantize_round_trips_uint8_pixels():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    x01 = pixels.astype(np.float32) / 255.0
    # int8 policy: scale 1/255 zero point -128 (VWW); MLPerf ResNet-8: range 255, scale 1.
    vww_q = quantize_input(x01, 1.0, np.float32(1 / 255), -128, np.dtype(np.int8))
    resnet_q = quantize_input(x01, 255.0, 1.0, -128, np.dtype(np.int8))
    expected = pixels.astype(np.int16) - 128
    assert np.array_equal(vww_q, expected) and np.array_equal(resnet_q, expected)
    # int16x8 policy: scale 1/32767, zero point 0.
    int16_q = quantize_input(x01, 1.0, np.float32(1 / 32767), 0, np.dtype(np.int16))
    assert int16_q.dtype == np.int16 and int16_q.min() == 0 and int16_q.max() == 32767
    assert np.array_equal(np.round(int16_q / 32767 * 255), pixels)


def test_quantize_clips_to_dtype_range():
    q = quantize_input(np.array([-1.0, 2.0]), 1.0, np.float32(1 / 255), -128, np.dtype(np.int8))
    assert q.tolist() == [-128, 127]


def test_registry_names_and_errors():
    names = backends.available_backends("mlperf-resnet8")
    assert {"float", "litert-ref-int8", "litert-int8", "tflm-int8"} <= set(names)
    assert "float" not in backends.available_backends("mlperf-kws")
    assert backends.parse_name("litert-ref-int16") == ("litert-ref", "int16")
    assert backends.parse_name("device-int8") == ("device", "int8")
    for bad in ("tflm", "tflm-int4", "gpu-int8", "float-int8"):
        with pytest.raises(UserError):
            backends.parse_name(bad)
    with pytest.raises(UserError):
        backends.get_backend("no-such-model", "tflm-int8")


def test_mlperf_resnet8_int8_accuracy(cifar):
    """Acceptance is 85.5 % (+-0.5) on test_lossless; measured: TFLM and LiteRT reference
    kernels 86.87 % (258/297), LiteRT default kernels 85.52 % (254/297). See docs/agreement.md."""
    tflm = backends.get_backend("mlperf-resnet8", "tflm-int8")
    ref = backends.get_backend("mlperf-resnet8", "litert-ref-int8")
    default = backends.get_backend("mlperf-resnet8", "litert-int8")
    assert tflm.kernels.startswith("tflite-micro ")
    assert (tflm.input_scale, tflm.input_zero_point) == (1.0, -128)
    assert accuracy(tflm, cifar) == pytest.approx(100 * 258 / 297)
    assert accuracy(ref, cifar) == pytest.approx(100 * 258 / 297)
    assert accuracy(default, cifar) == pytest.approx(85.5, abs=0.5)


def test_mlperf_vww_int8_accuracy(vww):
    """Acceptance: 85.2 % (+-0.5) on the 1,000 MLPerf VWW images. All 1,000 on LiteRT default
    kernels (fast); TFLM and LiteRT reference kernels on the first 200 only, to keep CI short
    (on all 1,000 both measure 85.4 %, see docs/agreement.md)."""
    default = backends.get_backend("mlperf-vww", "litert-int8")
    assert default.input_shape == (96, 96, 3)
    assert accuracy(default, vww) == pytest.approx(85.2, abs=0.5)
    head = vww.take(200)
    for name in ("tflm-int8", "litert-ref-int8"):
        assert accuracy(backends.get_backend("mlperf-vww", name), head) == pytest.approx(78.0)


def test_float_backend(cifar):
    backend = backends.get_backend("mlperf-resnet8", "float")
    scores = backend.run(cifar.x[:100].astype(np.float32) / 255.0)
    assert scores.shape == (100, 10) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    assert np.mean(scores.argmax(axis=1) == cifar.y[:100]) >= 0.8


@pytest.mark.parametrize("name", ["litert-ref-int8", "litert-int8"])
def test_litert_batched_equals_one_by_one(cifar, name):
    backend = backends.get_backend("mlperf-resnet8", name)
    q = backend.quantize(cifar.x[:24].astype(np.float32) / 255.0)
    batched = backend.invoke(q)
    single = np.concatenate([backend.invoke(q[i : i + 1]) for i in range(len(q))])
    assert batched.dtype == np.int8 and np.array_equal(batched, single)
    assert np.array_equal(backend.invoke(q[:5]), batched[:5])  # resized back and forth


def test_dequantize_output(cifar):
    backend = backends.get_backend("mlperf-resnet8", "tflm-int8")
    raw = backend.run(cifar.x[:4].astype(np.float32) / 255.0)
    scores = backend.dequantize_output(raw)
    assert np.allclose(scores, (raw.astype(np.float32) + 128) / 256)
    assert np.allclose(scores.sum(axis=1), 1.0, atol=0.05)


def test_corrupt_model_is_a_user_error(tmp_path):
    path = tmp_path / "bad.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(200))
    for name in ("tflm-int8", "litert-ref-int8"):
        with pytest.raises(UserError):
            backends.backend_for_file(name, path)
