"""TRANSPOSE_CONV (``firmware/engine/transpose_conv.cc``) with the ConvParams of CONV_2D.

TFLite Micro scatters each input pixel times the filter into an int32 (int16x8: int64) scratch
copy of the whole output, then requantizes it. The engine gathers instead: each output value
sums the input pixels and filter taps that reach it, the same integers in another order (exact:
integer addition), with no scratch buffer.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.compiler.ops import conv
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
# Inputs: output shape, weights [out_c][k_h][k_w][in_c], input, optional bias.
BUILTINS: c.Builtins = {
    "TRANSPOSE_CONV": (3, schema.TransposeConvOptionsT),
}
BIAS_TYPES = {"INT8": ("INT32",), "INT16": ("INT64", "INT16")}  # int16 biases are widened


def _bias(tensors: list[Tensor], op: schema.OperatorT, inp: Tensor, channels: int) -> np.ndarray:
    """The optional fourth input as int64 values, zeros when absent."""
    index = op.inputs[3] if len(op.inputs) > 3 else -1
    if index < 0:
        return np.zeros(channels, dtype=np.int64)
    tensor = tensors[index]
    if tensor.data is None:
        raise c.OpError("bias must be constant")
    if tensor.type_name not in BIAS_TYPES[inp.type_name]:
        raise c.OpError(f"{inp.type_name} inputs with a {tensor.type_name} bias")
    if tensor.size != channels:
        raise c.OpError(f"bias has {tensor.size} values for {channels} channels")
    return np.asarray(tensor.data).reshape(-1).astype(np.int64)


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """TRANSPOSE_CONV of a batch-1 NHWC input, SAME or VALID, any strides: kernel
    TransposeConvS8 or TransposeConvS16 (int16 activations, int8 weights)."""
    o = op.builtinOptions
    inp = c.activation(tensors, op.inputs[2])
    out = c.activation(tensors, op.outputs[0])
    c.same_type(inp, out)
    c.zero_point_int16(inp, out)
    c.batch_one(inp)
    c.batch_one(out)
    shape = dm.constant_ints(tensors, op.inputs[0], "output shape", 4)
    if shape != list(out.shape):
        raise c.OpError(f"output shape input {shape} but output {list(out.shape)}")
    weights, data = c.weights(tensors, op.inputs[1])
    _, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    if len(data.shape) != 4 or data.shape[0] != out_c or data.shape[3] != in_c:
        raise c.OpError(f"weights {list(data.shape)} do not fit {in_c} -> {out_c} channels")
    if len(weights.scales) not in (1, out_c):
        raise c.OpError(f"{len(weights.scales)} weight scales for {out_c} channels")
    if o.strideH < 1 or o.strideW < 1:
        raise c.OpError(f"strides {o.strideH}, {o.strideW}")
    k_h, k_w = data.shape[1:3]
    # TFLite Micro pads as a convolution from the output's size to the input's would.
    pad_h = c.padding(o.padding, o.strideH, 1, out_h, k_h, in_h)
    pad_w = c.padding(o.padding, o.strideW, 1, out_w, k_w, in_w)
    bias = _bias(tensors, op, inp, out_c)
    params = conv.geometry(
        inp,
        out,
        (k_h, k_w),
        (o.strideH, o.strideW),
        (1, 1),
        (pad_h, pad_w),
        1,
        c.fused_activation(o),
    )
    arrays = {"filter": data.astype(np.int8)}
    if inp.bits == 8:
        arrays["bias32"] = bias.astype(np.int32)
    else:
        arrays["bias64"] = bias
    mults, shifts = q.conv_multipliers(inp.scale, weights.scales, out.scale, out_c)
    arrays.update(c.requantization(mults, shifts))
    kernel = c.kernel_name("TransposeConv", inp)
    return c.Op(index, name, kernel, "ConvParams", [inp.index], out.index, params, arrays)
