"""Agreement between integer backends and op-by-op divergence localisation on real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from host import agreement, backends, data, zoo
from host.tflite import FullyConnectedParams, list_ops, truncate_after

BUILD = Path(__file__).resolve().parent.parent / "build" / "agreement"


@pytest.fixture(scope="module")
def cifar(data_dir):
    return data.load("cifar10", "test", data_dir)


def int8_content() -> bytes:
    return zoo.model_file("mlperf-resnet8", "int8").read_bytes()


@pytest.fixture(scope="module")
def int16_model(data_dir) -> Path:
    """MLPerf ResNet-8 converted to int16x8 (100 CIFAR-10 training images), cached in build/."""
    path = BUILD / "mlperf-resnet8-int16.tflite"
    if not path.is_file():
        from host.quantize import convert, load_float_model

        train = np.load(data_dir / "cifar10" / "train_jpeg.npz")
        calibration = data.decode_jpegs(train["jpeg"], train["offsets"][:101])
        content = convert(
            load_float_model("mlperf-resnet8"), calibration.astype(np.float32), "int16"
        )
        BUILD.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return path


def test_compare_counts_identical_steps_and_flips():
    a = np.array([[1, 5, 0], [3, 2, 1], [0, 0, 9], [4, 4, 4]], dtype=np.int8)
    b = np.array([[1, 5, 0], [3, 4, 1], [0, 0, 7], [4, 4, 4]], dtype=np.int8)
    result = agreement.compare("a", a, "b", b)
    assert result.n == 4 and result.identical_pct == 50.0 and result.max_diff_steps == 2
    assert result.top1_flips == 1 and result.top1_agree_pct == 75.0
    extreme = agreement.compare("a", np.array([[-128]], np.int8), "b", np.array([[127]], np.int8))
    assert extreme.max_diff_steps == 255  # no int8 overflow


def test_pairs_are_same_precision_integer_backends_only():
    precisions = {
        "float": "float",
        "tflm-int8": "int8",
        "litert-int8": "int8",
        "tflm-int16": "int16",
    }
    assert agreement.integer_pairs(precisions, precisions) == [("tflm-int8", "litert-int8")]


def test_truncated_graph_matches_full_model(cifar):
    content = int8_content()
    ops = list_ops(content)
    assert [op.name for op in ops[-3:]] == ["RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    full = backends.get_backend("mlperf-resnet8", "tflm-int8")
    q = full.quantize(cifar.x[:8].astype(np.float32) / 255.0)
    last = backends.host_backend_for_bytes("tflm")(
        truncate_after(content, len(ops) - 1), "int8", 255
    )
    assert np.array_equal(last.invoke(q), full.invoke(q))
    first = backends.host_backend_for_bytes("litert-ref")(truncate_after(content, 0), "int8", 255)
    assert first.invoke(q).shape == (8, 32, 32, 16)


def test_tflm_vs_litert_reference_int8_first_divergence_is_fully_connected(cifar):
    """The known fact, confirmed: identical up to FULLY_CONNECTED, which differs by 1 step on a
    share of inputs (85.5 % identical on all 297 images); softmax then widens the gap."""
    tflm = backends.get_backend("mlperf-resnet8", "tflm-int8")
    q = tflm.quantize(cifar.x[:64].astype(np.float32) / 255.0)
    rows = agreement.localize(
        int8_content(),
        q,
        backends.host_backend_for_bytes("tflm"),
        backends.host_backend_for_bytes("litert-ref"),
        "int8",
        255.0,
    )
    first = agreement.first_divergence(rows)
    assert first is not None and first.op_name == "FULLY_CONNECTED"
    assert all(row.identical_pct == 100.0 for row in rows[: first.op_index])
    assert 50.0 < first.identical_pct < 100.0 and first.max_diff_steps == 1
    assert rows[-1].op_name == "SOFTMAX" and rows[-1].max_diff_steps > 1


def test_fully_connected_divergence_is_rounding_not_multiplier(cifar):
    """TFLM requantizes FC with gemmlowp's double rounding, LiteRT's reference kernel rounds
    once; every candidate multiplier rule gives the same outputs on these images."""
    content = int8_content()
    tflm = backends.get_backend("mlperf-resnet8", "tflm-int8")
    q = tflm.quantize(cifar.x[:32].astype(np.float32) / 255.0)
    factories = {
        runtime: backends.host_backend_for_bytes(runtime) for runtime in ("tflm", "litert-ref")
    }
    table = agreement.explain_fully_connected(content, 14, q, factories, "int8", 255.0)
    for multiplier in agreement.MULTIPLIERS:
        double = table[f"{multiplier}, double rounding"]
        single = table[f"{multiplier}, single rounding"]
        assert double["tflm"] == 100.0 and double["litert-ref"] < 100.0
        assert single["litert-ref"] == 100.0 and single["tflm"] < 100.0


def test_rounding_rules_on_known_values():
    # 0.5 exactly: multiplier 2^30 (0.5 in Q31), shift 0.
    assert agreement.quantize_multiplier(0.5) == (1 << 30, 0)
    assert agreement.quantize_multiplier(0.75) == (3 << 29, 0)
    for rounder in agreement.ROUNDINGS.values():
        assert rounder(4, 1 << 30, 0) == 2 and rounder(-4, 1 << 30, 0) == -2
    # Multiplier 0.25 (Q31 2^30, shift -1). 5 * 0.25 = 1.25: rounding twice (2.5 -> 3, then
    # 1.5 -> 2) gives 2, rounding once gives 1. -6 * 0.25 = -1.5: gemmlowp rounds half away
    # from zero (-2), single rounding rounds half up (-1).
    double, single = agreement.ROUNDINGS["double rounding"], agreement.ROUNDINGS["single rounding"]
    assert (double(5, 1 << 30, -1), single(5, 1 << 30, -1)) == (2, 1)
    assert (double(-6, 1 << 30, -1), single(-6, 1 << 30, -1)) == (-2, -1)
    assert (double(6, 1 << 30, -1), single(6, 1 << 30, -1)) == (2, 2)


def test_int16_backends_and_fully_connected_divergence(cifar, int16_model):
    names = ("tflm-int16", "litert-ref-int16", "litert-int16")
    loaded = {name: backends.backend_for_file(name, int16_model, 255.0) for name in names}
    tflm = loaded["tflm-int16"]
    assert tflm.input_dtype == np.int16 and tflm.input_zero_point == 0
    x01 = cifar.x[:16].astype(np.float32) / 255.0
    raw = {name: backend.run(x01) for name, backend in loaded.items()}
    assert all(output.dtype == np.int16 for output in raw.values())
    for pair in agreement.pairwise(raw, {name: "int16" for name in names}):
        assert pair.top1_agree_pct >= 90.0, pair
    rows = agreement.localize(
        int16_model.read_bytes(),
        tflm.quantize(x01),
        backends.host_backend_for_bytes("tflm"),
        backends.host_backend_for_bytes("litert-ref"),
        "int16",
        255.0,
    )
    first = agreement.first_divergence(rows)
    assert first is not None and first.op_name == "FULLY_CONNECTED", rows
    assert first.max_diff_steps == 1


def test_fused_activation_ranges():
    def params(activation: int, scale: float, zero_point: int) -> FullyConnectedParams:
        empty = np.zeros((1, 1), dtype=np.int64)
        return FullyConnectedParams(
            1.0, 0, empty, np.ones(1), empty[0], scale, zero_point, activation
        )

    assert agreement.activation_range(params(0, 0.1, 3), "int8") == (-128, 127)
    assert agreement.activation_range(params(1, 0.1, 3), "int8") == (3, 127)
    assert agreement.activation_range(params(3, 0.1, 3), "int8") == (3, 63)
    assert agreement.activation_range(params(2, 0.5, 0), "int16") == (-2, 2)
