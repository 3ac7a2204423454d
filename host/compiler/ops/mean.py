"""MEAN over height and width of a 4-D NHWC tensor (``firmware/engine/mean.cc``): MeanParams."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "MEAN": (2, schema.ReducerOptionsT),
}


def reduced_axes(tensors: list[Tensor], index: int, rank: int) -> set[int]:
    """The constant axis tensor's axes, negative ones resolved (TFLite's ResolveAxis)."""
    data = tensors[index].data if index >= 0 else None
    if data is None or tensors[index].type_name != "INT32":
        raise c.OpError("the axis must be a constant int32 tensor")
    axes = {int(a) + rank if a < 0 else int(a) for a in data.reshape(-1)}
    if any(not 0 <= a < rank for a in axes):
        raise c.OpError(f"axis out of range for a {rank}-D input")
    return axes


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
    axes = reduced_axes(tensors, op.inputs[1], len(inp.shape))
    if axes != {1, 2}:
        raise c.OpError(f"only the mean over axes 1 and 2 (height, width) runs, not {sorted(axes)}")
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
