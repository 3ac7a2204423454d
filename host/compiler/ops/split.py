"""SPLIT, SPLIT_V and UNPACK: one StridedCopy (``firmware/engine/strided_copy.cc``) per output.

Each output is the input's slice along the axis at its offset, copied unchanged whatever the
output's quantization (as TFLite Micro). ``prepare`` returns one Op per output; outputs no op
reads still get theirs (TFLite Micro writes every output too).
"""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "SPLIT": (2, schema.SplitOptionsT),
    "SPLIT_V": (3, schema.SplitVOptionsT),
    "UNPACK": (1, schema.UnpackOptionsT),
}
# builtin -> (position of the input, position of the axis input or None: UNPACK's is an option)
OPERANDS = {"SPLIT": (1, 0), "SPLIT_V": (0, 2), "UNPACK": (0, None)}


def _axis(op: schema.OperatorT, tensors: list[Tensor], name: str, rank: int) -> int:
    """The split axis, negative resolved: a constant input, or UNPACK's option."""
    position = OPERANDS[name][1]
    if position is None:
        axis = int(op.builtinOptions.axis)
    else:
        (axis,) = dm.constant_ints(tensors, op.inputs[position], "axis", 1)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise c.OpError(f"axis {axis} out of range for a {rank}-D input")
    return axis


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> list[c.Op]:
    """One StridedCopy per output: the input from the output's offset along the axis."""
    inp = c.activation(tensors, op.inputs[OPERANDS[name][0]])
    rank = len(inp.shape)
    if not 1 <= rank <= dm.MAX_DIMS:
        raise c.OpError(f"{rank}-D input; the engine splits 1-D to {dm.MAX_DIMS}-D")
    axis = _axis(op, tensors, name, rank)
    outputs = [c.activation(tensors, i) for i in op.outputs]
    strides = dm.element_strides(inp.shape)
    ops, offset = [], 0
    for out in outputs:
        c.same_type(inp, out)
        shape = list(inp.shape)
        if name == "UNPACK":
            del shape[axis]
            size = 1
        else:
            size = out.shape[axis] if len(out.shape) == rank else -1
            shape[axis] = size
        if list(out.shape) != shape:
            raise c.OpError(f"output shape {list(out.shape)} does not fit a split of {inp.shape}")
        kept = strides if name != "UNPACK" else strides[:axis] + strides[axis + 1 :]
        counts, kept = (list(out.shape), kept) if out.shape else ([1], [0])  # a scalar
        ops.append(dm.strided_copy(index, name, inp, out, offset * strides[axis], counts, kept))
        offset += size
    if offset != inp.shape[axis]:
        raise c.OpError(f"the outputs take {offset} of the axis' {inp.shape[axis]} values")
    return ops
