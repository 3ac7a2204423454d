"""MEAN over height and width of a 4-D NHWC tensor (``firmware/engine/mean.cc``): MeanParams."""

from __future__ import annotations

import math

from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.compiler.ops import reduce
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "MEAN": (2, schema.ReducerOptionsT),
}


def rescale(count: int, inp: Tensor, out: Tensor) -> dict[str, int]:
    """``multiplier`` and ``shift`` of ``input_scale / output_scale / count`` as TFLite Micro's
    QuantizedMeanOrSum folds the count in (the wheel takes that path for equal quantization too)."""
    multiplier, shift = q.quantize_multiplier(inp.scale / out.scale)
    if multiplier == 0:
        raise c.OpError("input scale / output scale is too small to quantize")
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    return {"multiplier": (multiplier << fold) // count, "shift": shift - fold}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """MEAN over axes {1, 2} of a batch-1 NHWC input, keep_dims or not: kernel MeanS8 or S16."""
    inp, out = c.input_and_output(op, tensors)
    c.batch_one(inp)
    if len(op.inputs) != 2:
        raise c.OpError(f"expects 2 inputs (input, axis), got {len(op.inputs)}")
    axes = reduce.reduced_axes(tensors, op.inputs[1], len(inp.shape))
    if axes != {1, 2}:
        return _mean_any_axes(index, name, op, tensors)
    _, in_h, in_w, channels = inp.shape
    keep_dims = bool(op.builtinOptions.keepDims)
    expected = (1, 1, 1, channels) if keep_dims else (1, channels)
    if tuple(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)}, expected {list(expected)}")
    params = {
        "count": in_h * in_w,
        "channels": channels,
        "input_offset": -inp.zero_point,
        "output_offset": out.zero_point,
        **rescale(in_h * in_w, inp, out),
    }
    kernel = c.kernel_name("Mean", out)
    return c.Op(index, name, kernel, "MeanParams", [inp.index], out.index, params)


def _mean_any_axes(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """MEAN over other axes: SUM's kernel (SumS8 or SumS16) with 1 / group folded in."""
    inp, out, axes, arrays = reduce.reduction(op, tensors)
    group = math.prod(inp.shape[a] for a in axes)
    params = {
        "group": group,
        "input_offset": -inp.zero_point,
        "output_offset": out.zero_point,
        **rescale(group, inp, out),
    }
    kernel = c.kernel_name("Sum", out)
    return c.Op(index, name, kernel, "SumParams", [inp.index], out.index, params, arrays)
