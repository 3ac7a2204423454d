"""Agreement between integer backends: identical raw outputs, integer steps apart, top-1 flips.

And first-divergence localisation: cut the graph after each op (``host.tflite``), run two
host backends on the truncated models with the same raw inputs, and find the first op whose
outputs differ (TFLite Micro's layer-by-layer debugging idea).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

from host.backends.base import Backend, round_half_away_from_zero
from host.tflite import (
    FullyConnectedParams,
    fully_connected_params,
    list_ops,
    truncate_after,
)

# Builds a host backend for model bytes: (content, precision, input_range) -> Backend.
BytesFactory = Callable[[bytes, str, float], Backend]


@dataclass(frozen=True)
class Agreement:
    """How two backends' raw outputs compare on the same examples."""

    a: str
    b: str
    n: int
    identical_pct: float  # examples whose raw outputs are identical, all elements
    max_diff_steps: int  # largest absolute difference in integer steps
    top1_agree_pct: float
    top1_flips: int

    def as_dict(self) -> dict:
        return asdict(self)


def compare(name_a: str, raw_a: np.ndarray, name_b: str, raw_b: np.ndarray) -> Agreement:
    """Compare two raw integer output batches (first axis: examples)."""
    a = np.asarray(raw_a, dtype=np.int64).reshape(len(raw_a), -1)
    b = np.asarray(raw_b, dtype=np.int64).reshape(len(raw_b), -1)
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
    n = len(a)
    identical = np.all(a == b, axis=1)
    flips = int(np.sum(a.argmax(axis=1) != b.argmax(axis=1)))
    return Agreement(
        name_a,
        name_b,
        n,
        100.0 * float(identical.mean()) if n else 100.0,
        int(np.abs(a - b).max()) if a.size else 0,
        100.0 * (n - flips) / n if n else 100.0,
        flips,
    )


def integer_pairs(names: Iterable[str], precisions: dict[str, str]) -> list[tuple[str, str]]:
    """Every pair of integer backends of the same precision, in the given order."""
    integer = [name for name in names if precisions[name] != "float"]
    return [(a, b) for a, b in combinations(integer, 2) if precisions[a] == precisions[b]]


def pairwise(raw: dict[str, np.ndarray], precisions: dict[str, str]) -> list[Agreement]:
    """Agreement of every pair of integer backends of the same precision."""
    return [compare(a, raw[a], b, raw[b]) for a, b in integer_pairs(raw, precisions)]


@dataclass(frozen=True)
class OpAgreement:
    """Agreement of two backends on the output of one op (the graph cut after it)."""

    op_index: int
    op_name: str
    n: int
    identical_pct: float
    max_diff_steps: int

    def as_dict(self) -> dict:
        return asdict(self)


def localize(
    content: bytes,
    q: np.ndarray,
    factory_a: BytesFactory,
    factory_b: BytesFactory,
    precision: str,
    input_range: float = 1.0,
    progress: Callable[[Iterable], Iterable] = iter,
) -> list[OpAgreement]:
    """Per op: run both backends on the graph cut after it, on the same raw inputs ``q``."""
    rows = []
    for op in progress(list_ops(content)):
        truncated = truncate_after(content, op.index)
        out_a = factory_a(truncated, precision, input_range).invoke(q)
        out_b = factory_b(truncated, precision, input_range).invoke(q)
        result = compare("a", out_a, "b", out_b)
        rows.append(
            OpAgreement(op.index, op.name, result.n, result.identical_pct, result.max_diff_steps)
        )
    return rows


def first_divergence(rows: list[OpAgreement]) -> OpAgreement | None:
    """The first op whose outputs are not identical on every example (None: all agree)."""
    return next((row for row in rows if row.identical_pct < 100.0), None)


# ---------------------------------------------------------------- FULLY_CONNECTED requantization
# Candidate rules for out = requantize(acc): how the real multiplier is computed, and how
# acc * multiplier is rounded. Python integers, so no rule can overflow.


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as a Q31 integer and a power-of-two exponent (TFLite's rule)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    quantized = round(fraction * (1 << 31))
    if quantized == 1 << 31:
        quantized, shift = quantized // 2, shift + 1
    return quantized, shift


def _double_rounding(acc: int, multiplier: int, shift: int) -> int:
    """gemmlowp: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT (TFLM int8)."""
    product = acc * (1 << max(shift, 0)) * multiplier
    nudged = product + ((1 << 30) if product >= 0 else 1 - (1 << 30))
    high = abs(nudged) >> 31 if nudged >= 0 else -(abs(nudged) >> 31)  # C++ division
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if (high & mask) > threshold else 0)


def _single_rounding(acc: int, multiplier: int, shift: int) -> int:
    """One rounding: (acc * m + 2^(s-1)) >> s with s = 31 - shift."""
    total = 31 - shift
    return (acc * multiplier + (1 << (total - 1))) >> total


def _reduced_16bit(acc: int, multiplier: int, shift: int) -> int:
    """The int64-accumulator path: multiplier rounded to 16 bits, then one rounding."""
    reduced = (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    return (acc * reduced + (1 << (total - 1))) >> total


ROUNDINGS = {
    "double rounding": _double_rounding,
    "single rounding": _single_rounding,
    "16-bit multiplier": _reduced_16bit,
}
MULTIPLIERS = {
    "double(in)*double(w)/double(out)": lambda s_in, s_w, s_out: float(s_in) * float(s_w) / s_out,
    "float32(in*w)/double(out)": lambda s_in, s_w, s_out: float(np.float32(s_in) * s_w) / s_out,
    "float32(in*w/out)": lambda s_in, s_w, s_out: float(
        np.float32(np.float32(s_in) * s_w) / np.float32(s_out)
    ),
}


def requantize(acc: np.ndarray, params: FullyConnectedParams, multiplier: str, rounding: str):
    """Output integers of a FULLY_CONNECTED op from its accumulators under one candidate rule."""
    rule, rounder = MULTIPLIERS[multiplier], ROUNDINGS[rounding]
    out = np.empty(acc.shape, dtype=np.int64)
    for channel in range(acc.shape[1]):
        scale = rule(params.input_scale, params.weight_scales[channel], params.output_scale)
        m, shift = quantize_multiplier(scale)
        out[:, channel] = [rounder(int(a), m, shift) for a in acc[:, channel]]
    return out + params.output_zero_point


def activation_range(params: FullyConnectedParams, precision: str) -> tuple[int, int]:
    """The output clamp: the dtype range narrowed by a fused RELU, RELU_N1_TO_1 or RELU6."""
    info = np.iinfo(np.dtype(precision))

    def level(value: float) -> int:
        steps = np.asarray(np.float32(value) / np.float32(params.output_scale))
        return params.output_zero_point + int(round_half_away_from_zero(steps))

    bounds = {0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
    if params.fused_activation not in bounds:
        raise ValueError(f"fused activation {params.fused_activation} is not modelled")
    low, high = bounds[params.fused_activation]
    return (
        info.min if low is None else max(info.min, level(low)),
        info.max if high is None else min(info.max, level(high)),
    )


def explain_fully_connected(
    content: bytes,
    op_index: int,
    q: np.ndarray,
    factories: dict[str, BytesFactory],
    precision: str,
    input_range: float = 1.0,
) -> dict[str, dict[str, float]]:
    """For each candidate rule, the % of examples on which it reproduces each backend's output.

    The FC input is taken from the first backend (it must agree with the others there).
    """
    params = fully_connected_params(content, op_index)
    low, high = activation_range(params, precision)
    before = truncate_after(content, op_index - 1)
    inputs = [make(before, precision, input_range).invoke(q) for make in factories.values()]
    if any(not np.array_equal(inputs[0], other) for other in inputs[1:]):
        raise ValueError(f"the backends already differ before op {op_index}")
    x = inputs[0].reshape(len(q), -1).astype(np.int64)
    acc = (x - params.input_zero_point) @ params.weights.T + params.bias
    after = truncate_after(content, op_index)
    outputs = {
        name: make(after, precision, input_range).invoke(q).reshape(len(q), -1)
        for name, make in factories.items()
    }
    table = {}
    for multiplier in MULTIPLIERS:
        for rounding in ROUNDINGS:
            model = np.clip(requantize(acc, params, multiplier, rounding), low, high)
            table[f"{multiplier}, {rounding}"] = {
                name: 100.0 * float(np.mean(np.all(model == out, axis=1)))
                for name, out in outputs.items()
            }
    return table
