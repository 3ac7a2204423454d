"""SLICE (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 and int16, 1-D to 5-D,
constant begin and size (size -1: to the end), checked as TFLite Micro checks them."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "SLICE": (3, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """SLICE: per axis a first index and a count, stride 1."""
    inp, out = dm.copy_operands(op, tensors, "slices")
    rank = len(inp.shape)
    begin = dm.constant_ints(tensors, op.inputs[1], "begin", rank, ("INT32", "INT64"))
    size = dm.constant_ints(tensors, op.inputs[2], "size", rank, ("INT32", "INT64"))
    counts = []
    for axis, (first, count, dim) in enumerate(zip(begin, size, inp.shape, strict=True)):
        if not 0 <= first <= dim:
            raise c.OpError(f"begin {first} is outside 0..{dim} on axis {axis}")
        count = dim - first if count == -1 else count
        if not 0 <= count <= dim - first:
            raise c.OpError(f"size {count} does not fit from {first} in {dim} on axis {axis}")
        counts.append(count)
    if counts != list(out.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the slice's {counts}")
    strides = dm.element_strides(inp.shape)
    start = sum(first * stride for first, stride in zip(begin, strides, strict=True))
    return dm.strided_copy(index, name, inp, out, start, counts, strides)
