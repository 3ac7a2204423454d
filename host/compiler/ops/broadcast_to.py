"""BROADCAST_TO (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 and int16, 1-D to
5-D, a constant shape (as TFLite Micro): dimensions of 1 repeated by a stride of 0."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "BROADCAST_TO": (2, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """BROADCAST_TO: the input extended to the output's rank, stride 0 where it broadcasts."""
    inp, out = c.input_and_output(op, tensors)
    dm.same_quantization(inp, out)
    rank = len(out.shape)
    if not 1 <= rank <= dm.MAX_DIMS or len(inp.shape) > rank:
        raise c.OpError(f"{len(inp.shape)}-D to {rank}-D; TFLite Micro broadcasts up to 5-D")
    shape = dm.constant_ints(tensors, op.inputs[1], "shape", rank)
    if shape != list(out.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the shape {shape}")
    extended = [1] * (rank - len(inp.shape)) + list(inp.shape)
    if any(d not in (1, n) for d, n in zip(extended, shape, strict=True)):
        raise c.OpError(f"input shape {list(inp.shape)} does not broadcast to {shape}")
    strides = dm.element_strides(tuple(extended))
    strides = [0 if d == 1 else s for d, s in zip(extended, strides, strict=True)]
    return dm.strided_copy(index, name, inp, out, 0, shape, strides)
