"""REDUCE_MAX and REDUCE_MIN, int8, over any axes (``firmware/engine/reduce.cc``): ReduceParams.

TFLite Micro's ReduceGeneric keeps the largest (smallest) raw value of each reduced group: no
requantization, so input and output must share a quantization, as its Eval checks.
"""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.compiler.ops.mean import reduced_axes
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "REDUCE_MAX": (2, schema.ReducerOptionsT),
    "REDUCE_MIN": (2, schema.ReducerOptionsT),
}
KERNELS = {"REDUCE_MAX": "ReduceMaxS8", "REDUCE_MIN": "ReduceMinS8"}


def reduction_arrays(shape: tuple[int, ...], axes: set[int]) -> dict[str, np.ndarray]:
    """Counts and input strides of the kept dimensions (the output, in order) and of the reduced
    ones, each padded to the kernel's 5 dimensions (count 1, stride 0)."""
    strides = dm.element_strides(shape)
    kept = [axis for axis in range(len(shape)) if axis not in axes]
    reduced = sorted(axes)

    def padded(values: list[int], fill: int) -> np.ndarray:
        return np.asarray([fill] * (dm.MAX_DIMS - len(values)) + values, dtype=np.int32)

    return {
        "count": padded([shape[a] for a in kept], 1),
        "stride": padded([strides[a] for a in kept], 0),
        "reduce_count": padded([shape[a] for a in reduced], 1),
        "reduce_stride": padded([strides[a] for a in reduced], 0),
    }


def reduced_shape(shape: tuple[int, ...], axes: set[int], keep_dims: bool) -> list[int]:
    """The output shape TFLite gives a reduction of ``shape`` over ``axes``."""
    if keep_dims:
        return [1 if axis in axes else size for axis, size in enumerate(shape)]
    return [size for axis, size in enumerate(shape) if axis not in axes]


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """REDUCE_MAX or REDUCE_MIN of a 1-D to 5-D int8 tensor over its constant axes."""
    inp, out = c.input_and_output(op, tensors)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro reduces int8 only)")
    dm.same_quantization(inp, out)
    shape = tuple(inp.shape)
    if not 1 <= len(shape) <= dm.MAX_DIMS:
        raise c.OpError(f"{len(shape)}-D input; the engine reduces 1-D to {dm.MAX_DIMS}-D")
    axes = reduced_axes(tensors, op.inputs[1], len(shape))
    expected = reduced_shape(shape, axes, bool(op.builtinOptions.keepDims))
    if math.prod(expected) != out.size or list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)}, expected {expected}")
    if math.prod(shape) == 0:
        raise c.OpError("an empty input")
    arrays = reduction_arrays(shape, axes)
    return c.Op(index, name, KERNELS[name], "ReduceParams", [inp.index], out.index, {}, arrays)
