"""PACK (``firmware/engine/concatenation.cc``): ConcatParams; int8 and int16, the inputs stacked
along a new axis: a concatenation of byte blocks, as TFLite Micro's copy."""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "PACK": (1, schema.PackOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """PACK: kernel Concat; per input, one block of bytes per index before the new axis."""
    out = c.activation(tensors, op.outputs[0])
    inputs = [c.activation(tensors, i) for i in op.inputs]
    if op.builtinOptions.valuesCount != len(inputs):
        raise c.OpError(f"{op.builtinOptions.valuesCount} values for {len(inputs)} inputs")
    rank = len(out.shape)
    axis = op.builtinOptions.axis
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise c.OpError(f"axis {op.builtinOptions.axis} is out of range for {rank}-D output")
    shape = [d for i, d in enumerate(out.shape) if i != axis]
    if out.shape[axis] != len(inputs):
        raise c.OpError(f"output dimension {axis} is not the {len(inputs)} inputs")
    for inp in inputs:
        c.same_type(inp, out)
        dm.same_quantization(inp, out)
        if list(inp.shape) != shape:
            raise c.OpError(f"input shape {list(inp.shape)} does not fit {list(out.shape)}")
    block = math.prod(out.shape[axis + 1 :]) * (out.nbytes // out.size)
    params = {
        "inputs": len(inputs),
        "outer": math.prod(out.shape[:axis]),
        "output_bytes": block * len(inputs),
    }
    arrays = {"input_bytes": np.full(len(inputs), block, dtype=np.int32)}
    sources = [inp.index for inp in inputs]
    return c.Op(index, name, "Concat", "ConcatParams", sources, out.index, params, arrays)
