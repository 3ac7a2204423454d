"""HARD_SWISH (``firmware/engine/hard_swish.cc``): HardSwishParams, int8 only.

TFLite Micro's Prepare (int8; it has no int16 kernel): the input on a 2^7 finer "hires" scale,
float32 ratios to the output scale and to the "reluish" scale (3 is 2^15), each quantized as a
Q0.31 multiplier then rounded to Q0.15 (DownScaleInt32ToInt16Multiplier).
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "HARD_SWISH": (1, None),
}

F32 = np.float32


def multiplier_16(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then its Q0.31 multiplier rounded to Q0.15 (saturating at 32767)."""
    multiplier, shift = q.quantize_multiplier(real)
    if multiplier >= 2**31 - 1 - (1 << 15):
        return 32767, shift
    return (multiplier + (1 << 15)) >> 16, shift


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """HARD_SWISH: kernel HardSwishS8."""
    inp, out = c.input_and_output(op, tensors)
    if inp.bits != 8:
        raise c.OpError("only int8 runs (TFLite Micro has no int16 HARD_SWISH kernel)")
    if inp.size != out.size:
        raise c.OpError("input and output sizes differ")
    hires_scale = F32(F32(1.0 / 128.0) * F32(inp.scale))
    output_m, output_e = multiplier_16(float(F32(hires_scale / F32(out.scale))))
    if output_e > 0:
        raise c.OpError(f"output scale {out.scale} is too small for the input scale {inp.scale}")
    reluish_m, reluish_e = multiplier_16(float(F32(hires_scale / F32(3.0 / 32768.0))))
    if min(output_e, reluish_e) < -15:
        raise c.OpError("a rescale shifts right by more than 15 bits (int16 arithmetic)")
    params = {
        "size": out.size,
        "input_zero_point": inp.zero_point,
        "output_zero_point": out.zero_point,
        "reluish_multiplier": reluish_m,
        "reluish_exponent": reluish_e,
        "output_multiplier": output_m,
        "output_exponent": output_e,
    }
    return c.Op(index, name, "HardSwishS8", "HardSwishParams", [inp.index], out.index, params)
