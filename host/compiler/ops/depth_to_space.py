"""DEPTH_TO_SPACE (``firmware/engine/strided_copy.cc``): StridedCopyParams; int8 only (TFLite
Micro moves no int16), batch 1: output pixel (h, w) takes channel block
(h % block) * block + w % block of input pixel (h / block, w / block)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "DEPTH_TO_SPACE": (1, schema.DepthToSpaceOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """DEPTH_TO_SPACE: the output walked as (h, dy, w, dx, c) over the input."""
    inp, out, block = dm.block_operands(op, tensors)
    _, in_h, in_w, in_c = inp.shape
    depth = in_c // (block * block)
    expected = [1, in_h * block, in_w * block, depth]
    if in_c % (block * block) or list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)} is not {expected} of block {block}")
    counts = [in_h, block, in_w, block, depth]
    strides = [in_w * in_c, block * depth, in_c, depth, 1]
    return dm.strided_copy(index, name, inp, out, 0, counts, strides)
