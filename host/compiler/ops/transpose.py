"""TRANSPOSE (``firmware/engine/strided_copy.cc``): StridedCopyParams, the input read in the
permuted order; int8 and int16, 1-D to 5-D, a constant permutation (as TFLite Micro)."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "TRANSPOSE": (2, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """TRANSPOSE: output dimension k walks input dimension perm[k]."""
    inp, out = dm.copy_operands(op, tensors, "transposes")
    rank = len(inp.shape)
    perm = dm.constant_ints(tensors, op.inputs[1], "permutation", rank)
    if sorted(perm) != list(range(rank)):
        raise c.OpError(f"permutation {perm} is not one of 0..{rank - 1}")
    shape = [inp.shape[axis] for axis in perm]
    if shape != list(out.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the permuted {shape}")
    strides = dm.element_strides(inp.shape)
    return dm.strided_copy(index, name, inp, out, 0, shape, [strides[axis] for axis in perm])
