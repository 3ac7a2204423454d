"""CONV_2D (``firmware/engine/conv.cc``), and the ConvParams that both convolutions fill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "CONV_2D": (2, schema.Conv2DOptionsT),
}


@dataclass
class FilterLayout:
    """What a convolution's weight layout says: kernel size, channel mapping, weight sums."""

    k_h: int
    k_w: int
    depth_multiplier: int  # output channels per input channel (depthwise), else 1
    sums: np.ndarray  # sum of the weights of each output channel (int64)


# (weights, input channels, output channels) -> the layout, or OpError when they do not fit
LayoutReader = Callable[[np.ndarray, int, int], FilterLayout]


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """CONV_2D: kernel ConvS8 or ConvS16."""
    return convolution(index, name, op, tensors, _layout, "Conv")


def _layout(weights: np.ndarray, in_c: int, out_c: int) -> FilterLayout:
    """CONV_2D weights: [out_c][k_h][k_w][in_c]."""
    w_out, k_h, k_w, w_in = weights.shape
    if w_out != out_c or w_in != in_c:
        raise c.OpError(f"weights {list(weights.shape)} do not fit {in_c} -> {out_c} channels")
    return FilterLayout(k_h, k_w, 1, weights.astype(np.int64).reshape(out_c, -1).sum(axis=1))


def convolution(
    index: int,
    name: str,
    op: schema.OperatorT,
    tensors: list[Tensor],
    layout: LayoutReader,
    kernel: str,
) -> c.Op:
    """The ConvParams of CONV_2D or DEPTHWISE_CONV_2D, given how to read its weights.

    int8: the input zero point is folded into ``bias_folded`` (bias + input_offset * sum(w))
    for the windows that padding does not cut; ``bias32`` serves the others.
    """
    o = op.builtinOptions
    inp, out = c.input_and_output(op, tensors)
    c.zero_point_int16(inp, out)
    c.batch_one(inp)
    c.batch_one(out)
    weights, data = c.weights(tensors, op.inputs[1])
    if len(weights.shape) != 4:
        raise c.OpError(f"weights have shape {list(weights.shape)}, expected 4-D")
    _, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    filters = layout(data, in_c, out_c)
    if len(weights.scales) not in (1, out_c):
        raise c.OpError(f"{len(weights.scales)} weight scales for {out_c} channels")
    code = c.fused_activation(o)
    pad_h = c.padding(o.padding, o.strideH, o.dilationHFactor, in_h, filters.k_h, out_h)
    pad_w = c.padding(o.padding, o.strideW, o.dilationWFactor, in_w, filters.k_w, out_w)
    bias = c.bias(op, tensors, inp, out_c)
    input_offset = -inp.zero_point if inp.bits == 8 else 0
    params = geometry(
        inp,
        out,
        (filters.k_h, filters.k_w),
        (o.strideH, o.strideW),
        (o.dilationHFactor, o.dilationWFactor),
        (pad_h, pad_w),
        filters.depth_multiplier,
        code,
    )
    arrays = {"filter": data.astype(np.int8)}
    if inp.bits == 8:
        arrays["bias32"] = bias.astype(np.int32)
        arrays["bias_folded"] = c.wrap32(bias.astype(np.int64) + input_offset * filters.sums)
    else:
        arrays["bias64"] = bias.astype(np.int64)
    mults, shifts = q.conv_multipliers(inp.scale, weights.scales, out.scale, out_c)
    arrays.update(c.requantization(mults, shifts))
    kernel = c.kernel_name(kernel, inp)
    return c.Op(index, name, kernel, "ConvParams", [inp.index], out.index, params, arrays)


def geometry(
    inp: Tensor,
    out: Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pad: tuple[int, int],
    depth_multiplier: int,
    activation: int,
) -> dict[str, int]:
    """ConvParams' integer fields, in declaration order, for a batch-1 NHWC input and output."""
    _, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    return {
        "in_h": in_h,
        "in_w": in_w,
        "in_c": in_c,
        "out_h": out_h,
        "out_w": out_w,
        "out_c": out_c,
        "k_h": kernel[0],
        "k_w": kernel[1],
        "stride_h": stride[0],
        "stride_w": stride[1],
        "dil_h": dilation[0],
        "dil_w": dilation[1],
        "pad_h": pad[0],
        "pad_w": pad[1],
        "depth_multiplier": depth_multiplier,
        "input_offset": -inp.zero_point if inp.bits == 8 else 0,
        "output_offset": out.zero_point if out.bits == 8 else 0,
        **c.activation_range(activation, out),
    }
