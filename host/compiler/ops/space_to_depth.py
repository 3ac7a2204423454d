"""SPACE_TO_DEPTH (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 only (TFLite
Micro moves no int16), batch 1: channel block (dy * block + dx) of output pixel (h, w) is input
pixel (h * block + dy, w * block + dx)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "SPACE_TO_DEPTH": (1, schema.SpaceToDepthOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """SPACE_TO_DEPTH: the output walked as (h, w, dy, dx, c) over the input."""
    inp, out, block = dm.block_operands(op, tensors)
    _, in_h, in_w, in_c = inp.shape
    expected = [1, in_h // block, in_w // block, in_c * block * block]
    if in_h % block or in_w % block or list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)} is not {expected} of block {block}")
    counts = [in_h // block, in_w // block, block, block, in_c]
    strides = [block * in_w * in_c, block * in_c, in_w * in_c, in_c, 1]
    return dm.strided_copy(index, name, inp, out, 0, counts, strides)
