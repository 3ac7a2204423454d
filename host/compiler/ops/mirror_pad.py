"""MIRROR_PAD, REFLECT and SYMMETRIC (``firmware/engine/mirror_pad.cc``): MirrorPadParams.

TFLite Micro maps each output index to an input index per dimension (its GetInputDimension) and
copies the value, int8 only, whatever the output's quantization (the engine does too). The
compiler reproduces that map as one table of input offsets per dimension.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "MIRROR_PAD": (2, schema.MirrorPadOptionsT),
}


def source_index(index: int, left: int, size: int, offset: int) -> int:
    """The input index TFLite Micro reads for output ``index`` of a dimension of ``size``
    padded by ``left`` before it; ``offset`` 1 reflects without the edge, 0 repeats it."""
    if index < left:
        edge = left + offset - 1
        return edge - min(index, edge - offset)
    index -= left
    if index >= size:
        edge = size - (1 + offset)
        return edge - min(index - size, edge)
    return index


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """MIRROR_PAD of a 1-D to 5-D int8 tensor by its constant paddings."""
    inp, out = dm.copy_operands(op, tensors, "pads", same_scale=False)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro mirror-pads int8 only)")
    rank = len(inp.shape)
    pads = dm.constant_ints(tensors, op.inputs[1], "paddings", 2 * rank, ("INT32", "INT64"))
    offset = 1 if op.builtinOptions.mode == schema.MirrorPadMode.REFLECT else 0
    expected = [size + pads[2 * d] + pads[2 * d + 1] for d, size in enumerate(inp.shape)]
    if list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)}, expected {expected}")
    for d, size in enumerate(inp.shape):
        limit = size - offset
        if not (0 <= pads[2 * d] <= limit and 0 <= pads[2 * d + 1] <= limit):
            raise c.OpError(f"paddings {pads[2 * d : 2 * d + 2]} of a dimension of {size}")
    strides = dm.element_strides(inp.shape)
    tables = [
        [source_index(o, pads[2 * d], size, offset) * strides[d] for o in range(expected[d])]
        for d, size in enumerate(inp.shape)
    ]
    pad = dm.MAX_DIMS - rank
    arrays = {
        "count": np.asarray([1] * pad + expected, dtype=np.int32),
        "offsets": np.asarray([0] * pad + [v for t in tables for v in t], dtype=np.int32),
    }
    return c.Op(index, name, "MirrorPad", "MirrorPadParams", [inp.index], out.index, {}, arrays)
