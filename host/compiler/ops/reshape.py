"""RESHAPE, SQUEEZE and EXPAND_DIMS (``firmware/engine/reshape.cc``): no struct; a copy, or
nothing if storage is shared (the values and their order do not change)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "RESHAPE": (1, None),
    "SQUEEZE": (1, None),
    "EXPAND_DIMS": (2, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """RESHAPE, SQUEEZE, EXPAND_DIMS: kernel Copy of ``bytes``; the memory plan lets the output
    alias the input."""
    inp, out = c.input_and_output(op, tensors)
    if inp.size != out.size:
        raise c.OpError(f"{inp.size} values cannot become {out.size}")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise c.OpError("input and output quantization differ")
    params = {"bytes": out.nbytes}
    return c.Op(index, name, "Copy", None, [inp.index], out.index, params, alias=True)
