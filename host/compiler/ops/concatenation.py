"""CONCATENATION (``firmware/engine/concatenation.cc``): ConcatParams, a copy of byte blocks.

TFLite Micro copies int8 and int16 inputs unchanged (no requantization), so every input must
share the output's scale and zero point (the converter quantizes them alike).
"""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "CONCATENATION": (1, schema.ConcatenationOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """CONCATENATION: kernel Concat; per input, one block of bytes per outer index."""
    out = c.activation(tensors, op.outputs[0])
    inputs = [c.activation(tensors, i) for i in op.inputs]
    if c.fused_activation(op.builtinOptions) != 0:
        raise c.OpError("a fused activation is not supported")
    rank = len(out.shape)
    axis = op.builtinOptions.axis
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise c.OpError(f"axis {op.builtinOptions.axis} is out of range for {rank}-D tensors")
    for inp in inputs:
        c.same_type(inp, out)
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            raise c.OpError(
                f"input {inp.name!r} is quantized unlike the output (no requantization)"
            )
        if len(inp.shape) != rank or any(
            inp.shape[d] != out.shape[d] for d in range(rank) if d != axis
        ):
            raise c.OpError(f"input shape {list(inp.shape)} does not fit {list(out.shape)}")
    if sum(inp.shape[axis] for inp in inputs) != out.shape[axis]:
        raise c.OpError(f"the inputs do not add up to the output's dimension {axis}")
    item = out.nbytes // max(out.size, 1)
    inner = [math.prod(inp.shape[axis:]) * item for inp in inputs]
    params = {
        "inputs": len(inputs),
        "outer": math.prod(out.shape[:axis]),
        "output_bytes": math.prod(out.shape[axis:]) * item,
    }
    arrays = {"input_bytes": np.asarray(inner, dtype=np.int32)}
    sources = [inp.index for inp in inputs]
    return c.Op(index, name, "Concat", "ConcatParams", sources, out.index, params, arrays)
