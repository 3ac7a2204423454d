"""SQUARED_DIFFERENCE (``firmware/engine/add.cc``): BinaryParams (SquaredDifferenceS8/S16),
broadcasting up to 4-D (TFLite Micro's BroadcastBinaryFunction4DSlow), one constant input."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import broadcast
from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

BUILTINS: c.Builtins = {
    "SQUARED_DIFFERENCE": (2, None),
}
F32 = np.float32


def squared_difference_params(s1: float, s2: float, s_out: float, bits: int) -> dict[str, int]:
    """TFLite Micro's PrepareQuantized: ADD's input multipliers, a left shift of 7 (int8) or 0
    (int16), and the output multiplier (2 max scale)^2 / (2^(2 left_shift) * output scale), the
    divisor's product in float32."""
    left_shift = 0 if bits == 16 else 7
    twice_max = 2.0 * float(max(F32(s1), F32(s2)))
    divisor = float(F32(1 << (2 * left_shift)) * F32(s_out))
    multiplier, shift = q.quantize_multiplier(twice_max * twice_max / divisor)
    return q.add_params(s1, s2, s_out, bits) | {
        "left_shift": left_shift,
        "output_multiplier": multiplier,
        "output_shift": shift,
    }


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """SQUARED_DIFFERENCE: (input1 - input2)^2, clamped to the output type's range."""
    a, b, out = broadcast.operands(op, tensors)
    c.zero_point_int16(a, b, out)
    if max(len(a.shape), len(b.shape)) > 4:
        raise c.OpError("TFLite Micro's SQUARED_DIFFERENCE broadcasts at most 4-D tensors")
    arithmetic = {
        "input1_offset": -a.zero_point,
        "input2_offset": -b.zero_point,
        "output_offset": out.zero_point,
        **squared_difference_params(a.scale, b.scale, out.scale, out.bits),
        **c.activation_range(0, out),
    }
    return broadcast.binary_op(index, name, "SquaredDifference", (a, b, out), arithmetic)
