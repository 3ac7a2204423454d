"""MUL (``firmware/engine/mul.cc``): BinaryParams (MulS8, MulS16), broadcasting up to 4-D (as
TFLite Micro's BroadcastMul4DSlow) and one constant input allowed."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import broadcast
from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

BUILTINS: c.Builtins = {
    "MUL": (2, schema.MulOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """MUL: the offset inputs' product times input1 scale * input2 scale / output scale
    (double arithmetic on the float32 scales)."""
    a, b, out = broadcast.operands(op, tensors)
    c.zero_point_int16(a, b, out)
    if max(len(a.shape), len(b.shape)) > 4:
        raise c.OpError("TFLite Micro's MUL broadcasts at most 4-D tensors")
    code = c.fused_activation(op.builtinOptions)
    real = float(np.float32(a.scale)) * float(np.float32(b.scale)) / float(np.float32(out.scale))
    multiplier, shift = q.quantize_multiplier(real)
    arithmetic = {
        "input1_offset": -a.zero_point,
        "input2_offset": -b.zero_point,
        "output_offset": out.zero_point,
        "output_multiplier": multiplier,
        "output_shift": shift,
        **c.activation_range(code, out),
    }
    return broadcast.binary_op(index, name, "Mul", (a, b, out), arithmetic)
