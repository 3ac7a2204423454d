"""TFLite Micro's "prepare" arithmetic, done once on the host: multipliers, shifts, ranges, LUTs.

Every function reproduces the float/double rounding of the TFLite Micro kernel it stands for,
so the integers it returns are the ones TFLite Micro computes at run time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

F32 = np.float32

# The float32 libm exp that TFLite Micro's int16 softmax table generation calls (std::exp(float)).
_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_LIBM.expf.restype = ctypes.c_float
_LIBM.expf.argtypes = [ctypes.c_float]


def round_away(x: float) -> float:
    """std::round: halves away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = q * 2^(shift - 31) with q a Q0.31 int32 (double arithmetic)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round_away(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def conv_multipliers(
    input_scale: float, filter_scales: np.ndarray, output_scale: float, channels: int
) -> tuple[list[int], list[int]]:
    """Per-channel multipliers of (depthwise) convolutions: double(in) * double(w) / double(out)."""
    scales = filter_scales if len(filter_scales) > 1 else np.repeat(filter_scales, channels)
    pairs = [
        quantize_multiplier(float(F32(input_scale)) * float(F32(s)) / float(F32(output_scale)))
        for s in scales
    ]
    return [m for m, _ in pairs], [s for _, s in pairs]


def fc_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED multiplier (GetQuantizedConvolutionMultipler, double product)."""
    product = float(F32(input_scale)) * float(F32(filter_scale))
    return quantize_multiplier(product / float(F32(output_scale)))


def activation_range(activation: int, scale: float, zero_point: int, bits: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for NONE, RELU, RELU_N1_TO_1 and RELU6 (0, 1, 2, 3)."""
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def quantize(value: float) -> int:
        return zero_point + int(round_away(float(F32(value) / F32(scale))))

    if activation == 0:
        return qmin, qmax
    if activation == 1:
        return max(qmin, quantize(0.0)), qmax
    if activation == 2:
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    if activation == 3:
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    raise ValueError(f"fused activation {activation} is not supported")


def add_params(s1: float, s2: float, s_out: float, bits: int) -> dict[str, int]:
    """ADD: both inputs rescaled to twice the larger input scale, with left_shift headroom."""
    left_shift = 15 if bits == 16 else 20
    twice_max = 2 * float(max(F32(s1), F32(s2)))
    m1, sh1 = quantize_multiplier(float(F32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier(float(F32(s2)) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * float(F32(s_out))))
    return {
        "left_shift": left_shift,
        "input1_multiplier": m1,
        "input1_shift": sh1,
        "input2_multiplier": m2,
        "input2_shift": sh2,
        "output_multiplier": mo,
        "output_shift": sho,
    }


def softmax_s8_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """int8 SOFTMAX: (input_multiplier, input_left_shift, diff_min) for a Q5.26 difference."""
    integer_bits = 5
    real = min(float(F32(beta)) * float(F32(input_scale)) * (1 << (31 - integer_bits)), 2**31 - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(
        1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)
    )
    return multiplier, left_shift, int(-1.0 * radius)


def softmax_s16_params(beta: float, input_scale: float) -> tuple[int, int]:
    """int16 SOFTMAX: the difference scaled so that [-65535, 0] covers [-10, 0]."""
    return quantize_multiplier(float(F32(input_scale)) * float(F32(beta)) / (10.0 / 65535.0))


def _lut(func, input_min: float, input_max: float) -> list[int]:
    """gen_lut<float, int16_t, int16_t> with output range [-1, 1]: 512 steps plus one end value."""
    lo, hi = F32(input_min), F32(input_max)
    steps = 512
    step = F32((hi - lo) / F32(steps))
    half = F32(step / F32(2))
    scaling = F32(F32(65536) / (F32(1.0) - F32(-1.0)))

    def rnd(x: np.float32) -> np.float32:
        return F32(round_away(float(x)))

    table = []
    for i in range(steps):
        at = F32(lo + F32(F32(i) * step))
        val = func(at)
        mid = func(F32(at + half))
        nxt = func(F32(lo + F32(F32(i + 1) * step)))
        sample = rnd(F32(val * scaling))
        interp = rnd(F32(F32(F32(nxt * scaling) + rnd(F32(val * scaling))) / F32(2)))
        err = F32(interp - rnd(F32(mid * scaling)))
        bias = rnd(F32(err / F32(2)))
        table.append(int(min(max(F32(sample - bias), F32(-32768)), F32(32767))))
    last = rnd(F32(func(hi) * scaling))
    table.append(int(min(max(last, F32(-32768)), F32(32767))))
    return table


def softmax_s16_luts() -> tuple[list[int], list[int]]:
    """The exp table on [-10, 0] and the 1 / (1 + x) table on [0, 1] of int16 SOFTMAX."""
    exp_lut = _lut(lambda x: F32(_LIBM.expf(float(x))), -10.0, 0.0)
    recip_lut = _lut(lambda x: F32(F32(1.0) / F32(F32(1.0) + x)), 0.0, 1.0)
    return exp_lut, recip_lut
