"""ADD (``firmware/engine/add.cc``): AddParams, same-shape inputs (no broadcasting)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "ADD": (2, schema.AddOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """ADD: kernel AddS8 or AddS16; both inputs rescaled to twice the larger input scale."""
    a = c.activation(tensors, op.inputs[0])
    b = c.activation(tensors, op.inputs[1])
    out = c.activation(tensors, op.outputs[0])
    c.same_type(a, out)
    c.same_type(b, out)
    if a.shape != b.shape or a.shape != out.shape:
        raise c.OpError(
            f"broadcasting is not supported (shapes {list(a.shape)} and {list(b.shape)})"
        )
    code = c.fused_activation(op.builtinOptions)
    params = {
        "size": out.size,
        "input1_offset": -a.zero_point,
        "input2_offset": -b.zero_point,
        "output_offset": out.zero_point,
        **q.add_params(a.scale, b.scale, out.scale, out.bits),
        **c.activation_range(code, out),
    }
    kernel = c.kernel_name("Add", out)
    return c.Op(index, name, kernel, "AddParams", [a.index, b.index], out.index, params)
