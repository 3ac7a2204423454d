"""ADD and SUB (``firmware/engine/add.cc``): both inputs rescaled to twice the larger input
scale, summed or subtracted, rescaled to the output.

Same-shape ADD takes AddParams (AddS8, AddS16, with the x86 hook); ADD with broadcasting or a
constant input, and every SUB, take BinaryParams (AddBroadcastS8/S16, SubS8/S16). SUB's
multipliers are ADD's, divided in double: TFLite Micro's current source divides SUB's in
float32, but the wheel's int16 SUB agrees with the double quotients only.
"""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler import broadcast
from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "ADD": (2, schema.AddOptionsT),
    "SUB": (2, schema.SubOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """ADD or SUB of two int8 or int16 inputs (at most one constant)."""
    a, b, out = broadcast.operands(op, tensors)
    c.zero_point_int16(a, b, out)
    code = c.fused_activation(op.builtinOptions)
    arithmetic = {
        "input1_offset": -a.zero_point,
        "input2_offset": -b.zero_point,
        "output_offset": out.zero_point,
        **q.add_params(a.scale, b.scale, out.scale, out.bits),
        **c.activation_range(code, out),
    }
    if name == "SUB":
        return broadcast.binary_op(index, name, "Sub", (a, b, out), arithmetic)
    if a.data is not None or b.data is not None or a.shape != b.shape or a.shape != out.shape:
        return broadcast.binary_op(index, name, "AddBroadcast", (a, b, out), arithmetic)
    params = {"size": out.size, **arithmetic}
    kernel = c.kernel_name("Add", out)
    return c.Op(index, name, kernel, "AddParams", [a.index, b.index], out.index, params)
