"""REVERSE_V2 (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 and int16, 1-D to
5-D, constant contiguous axes (as TFLite Micro): the input values read backwards along them,
unchanged even where the output is quantized unlike the input (as TFLite Micro)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "REVERSE_V2": (2, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """REVERSE_V2: a negative stride and a start at the end on each reversed axis."""
    # The converter quantizes REVERSE_V2's output on its own; TFLite Micro copies the values
    # whatever their scales, so the engine does too.
    inp, out = dm.copy_operands(op, tensors, "reverses", same_scale=False)
    rank = len(inp.shape)
    axis_tensor = tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
    count = axis_tensor.size if axis_tensor is not None else 0
    axes = sorted(
        a + rank if a < 0 else a for a in dm.constant_ints(tensors, op.inputs[1], "axes", count)
    )
    if (
        not axes
        or any(not 0 <= a < rank for a in axes)
        or axes != list(range(axes[0], axes[0] + len(axes)))
    ):
        raise c.OpError(f"axes {axes} are not contiguous axes of a {rank}-D input (TFLite Micro)")
    if list(out.shape) != list(inp.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the input's")
    strides = dm.element_strides(inp.shape)
    start = sum((inp.shape[a] - 1) * strides[a] for a in axes)
    for a in axes:
        strides[a] = -strides[a]
    return dm.strided_copy(index, name, inp, out, start, list(inp.shape), strides)
