"""LEAKY_RELU (``firmware/engine/leaky_relu.cc``): LeakyReluParams, int8 and int16.

Both multipliers (input scale * alpha / output scale, input scale / output scale) are computed
in double from the float32 values, as the wheel's results show (float32 arithmetic loses the
last bit on int16 ties); a negative alpha's multiplier is used by magnitude and the product
negated, as TFLite Micro's reference kernel does.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "LEAKY_RELU": (1, schema.LeakyReluOptionsT),
}

F32 = np.float32


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """LEAKY_RELU: kernel LeakyReluS8 or LeakyReluS16."""
    inp, out = c.input_and_output(op, tensors)
    if inp.size != out.size:
        raise c.OpError("input and output sizes differ")
    alpha = float(F32(op.builtinOptions.alpha))
    in_scale, out_scale = float(F32(inp.scale)), float(F32(out.scale))
    identity_m, identity_s = q.quantize_multiplier(in_scale / out_scale)
    alpha_m, alpha_s = q.quantize_multiplier(in_scale * alpha / out_scale)
    params = {
        "size": out.size,
        "input_offset": inp.zero_point,
        "output_offset": out.zero_point,
        "identity_multiplier": identity_m,
        "identity_shift": identity_s,
        "alpha_multiplier": abs(alpha_m),
        "alpha_shift": alpha_s,
        "alpha_negative": int(alpha_m < 0),
    }
    kernel = c.kernel_name("LeakyRelu", out)
    return c.Op(index, name, kernel, "LeakyReluParams", [inp.index], out.index, params)
