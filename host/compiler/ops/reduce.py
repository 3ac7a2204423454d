"""REDUCE_MAX, REDUCE_MIN (int8) and SUM (int8, int16), any axes (``firmware/engine/reduce.cc``).

TFLite Micro's ReduceGeneric keeps the largest (smallest) raw value of each reduced group: no
requantization, so input and output must share a quantization, as its Eval checks
(ReduceParams). Its QuantizedMeanOrSum sums each group in int32 and requantizes the sum less the
group's input zero points by input scale / output scale (SumParams).
"""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "REDUCE_MAX": (2, schema.ReducerOptionsT),
    "REDUCE_MIN": (2, schema.ReducerOptionsT),
    "SUM": (2, schema.ReducerOptionsT),
}
KERNELS = {"REDUCE_MAX": "ReduceMaxS8", "REDUCE_MIN": "ReduceMinS8"}


def reduced_axes(tensors: list[Tensor], index: int, rank: int) -> set[int]:
    """The constant axis tensor's axes, negative ones resolved (TFLite's ResolveAxis)."""
    data = tensors[index].data if index >= 0 else None
    if data is None or tensors[index].type_name != "INT32":
        raise c.OpError("the axis must be a constant int32 tensor")
    axes = {int(a) + rank if a < 0 else int(a) for a in data.reshape(-1)}
    if any(not 0 <= a < rank for a in axes):
        raise c.OpError(f"axis out of range for a {rank}-D input")
    return axes


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


def reduction(
    op: schema.OperatorT, tensors: list[Tensor]
) -> tuple[Tensor, Tensor, set[int], dict[str, np.ndarray]]:
    """Input, output, reduced axes and the kernel's arrays of a reduction of a 1-D to 5-D
    tensor over its constant axes, the output shape checked against keep_dims."""
    inp, out = c.input_and_output(op, tensors)
    shape = tuple(inp.shape)
    if not 1 <= len(shape) <= dm.MAX_DIMS:
        raise c.OpError(f"{len(shape)}-D input; the engine reduces 1-D to {dm.MAX_DIMS}-D")
    if math.prod(shape) == 0:
        raise c.OpError("an empty input")
    axes = reduced_axes(tensors, op.inputs[1], len(shape))
    expected = reduced_shape(shape, axes, bool(op.builtinOptions.keepDims))
    if list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)}, expected {expected}")
    return inp, out, axes, reduction_arrays(shape, axes)


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """REDUCE_MAX or REDUCE_MIN of a 1-D to 5-D int8 tensor over its constant axes, or SUM of
    an int8 or int16 one."""
    if name == "SUM":
        return _sum(index, name, op, tensors)
    inp, out, _, arrays = reduction(op, tensors)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro reduces int8 only)")
    dm.same_quantization(inp, out)
    return c.Op(index, name, KERNELS[name], "ReduceParams", [inp.index], out.index, {}, arrays)


def _sum(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """SUM: kernel SumS8 or SumS16."""
    inp, out, axes, arrays = reduction(op, tensors)
    c.zero_point_int16(inp, out)
    multiplier, shift = q.quantize_multiplier(inp.scale / out.scale)
    params = {
        "group": math.prod(inp.shape[a] for a in axes),
        "input_offset": -inp.zero_point,
        "output_offset": out.zero_point,
        "multiplier": multiplier,
        "shift": shift,
    }
    kernel = c.kernel_name("Sum", out)
    return c.Op(index, name, kernel, "SumParams", [inp.index], out.index, params, arrays)
