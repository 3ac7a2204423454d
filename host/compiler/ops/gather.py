"""GATHER (``firmware/engine/gather.cc``): GatherParams; int8 only (TFLite Micro gathers no
int16), constant int32 positions along any axis, batch_dims as TFLite Micro."""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "GATHER": (2, schema.GatherOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """GATHER: kernel Gather, blocks of the input at constant positions."""
    inp, out = c.input_and_output(op, tensors)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro gathers int8 only)")
    dm.same_quantization(inp, out)
    coords = tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
    if coords is None or coords.data is None:
        raise c.OpError("the positions must be constant")
    shape, rank = list(coords.shape), len(inp.shape)
    positions = dm.constant_ints(tensors, op.inputs[1], "positions", coords.size)
    axis, batch_dims = op.builtinOptions.axis, op.builtinOptions.batchDims
    axis = axis + rank if axis < 0 else axis
    batch_dims = batch_dims + len(shape) if batch_dims < 0 else batch_dims
    if not 0 <= batch_dims <= axis < rank or batch_dims > len(shape):
        raise c.OpError(f"axis {axis} and batch_dims {batch_dims} do not fit {rank}-D input")
    if list(inp.shape[:batch_dims]) != shape[:batch_dims]:
        raise c.OpError("the positions' batch dimensions differ from the input's")
    if any(not 0 <= p < inp.shape[axis] for p in positions):
        raise c.OpError(f"a position is outside 0..{inp.shape[axis] - 1}")
    expected = list(inp.shape[:axis]) + shape[batch_dims:] + list(inp.shape[axis + 1 :])
    if list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)} is not the gather's {expected}")
    params = {
        "batches": math.prod(inp.shape[:batch_dims]),
        "outer": math.prod(inp.shape[batch_dims:axis]),
        "count": math.prod(shape[batch_dims:]),
        "axis_size": inp.shape[axis],
        "block_bytes": math.prod(inp.shape[axis + 1 :]),  # int8: a byte a value
    }
    arrays = {"positions": np.asarray(positions, dtype=np.int32)}
    return c.Op(index, name, "Gather", "GatherParams", [inp.index], out.index, params, arrays)
