"""STRIDED_SLICE (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 and int16,
1-D to 4-D, constant begin/end/strides, begin, end and shrink-axis masks, negative indices and
strides (TFLite Micro's StartForAxis/StopForAxis); ellipsis and new-axis masks refused (TFLite
Micro ignores them)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "STRIDED_SLICE": (4, schema.StridedSliceOptionsT),
}

MAX_RANK = 4  # TFLite Micro's strided slice


def _clamp(value: int, stride: int, size: int) -> int:
    """Negative indices count from the end; then the range a stride's direction allows."""
    value = value + size if value < 0 else value
    low, high = (0, size) if stride > 0 else (-1, size - 1)
    return min(max(value, low), high)


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """STRIDED_SLICE: per axis a first index, a stride and a count."""
    inp, out = dm.copy_operands(op, tensors, "slices", MAX_RANK)
    options = op.builtinOptions
    if options.ellipsisMask or options.newAxisMask:
        raise c.OpError("ellipsis and new-axis masks are not supported (TFLite Micro ignores them)")
    if options.offset:
        raise c.OpError("offset slices are not supported")
    rank = len(inp.shape)
    begin = dm.constant_ints(tensors, op.inputs[1], "begin", rank)
    end = dm.constant_ints(tensors, op.inputs[2], "end", rank)
    steps = dm.constant_ints(tensors, op.inputs[3], "strides", rank)
    in_strides = dm.element_strides(inp.shape)
    start, counts, kept = 0, [], []
    for axis, (size, step) in enumerate(zip(inp.shape, steps, strict=True)):
        if step == 0:
            raise c.OpError(f"stride 0 on axis {axis}")
        first = begin[axis]
        if options.beginMask >> axis & 1:
            first = -(2**31) if step > 0 else 2**31 - 1
        first = _clamp(first, step, size)
        if options.shrinkAxisMask >> axis & 1:
            if not 0 <= first < size:
                raise c.OpError(f"axis {axis} shrinks to index {first}, outside 0..{size - 1}")
            stop = first + 1
        else:
            stop = end[axis]
            if options.endMask >> axis & 1:
                stop = 2**31 - 1 if step > 0 else -(2**31)
            stop = _clamp(stop, step, size)
        count = max(0, -((first - stop) // step))
        if not options.shrinkAxisMask >> axis & 1:
            kept.append(count)
        start += first * in_strides[axis]
        counts.append(count)
    if kept != list(out.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the slice's {kept}")
    strides = [step * stride for step, stride in zip(steps, in_strides, strict=True)]
    return dm.strided_copy(index, name, inp, out, start, counts, strides)
