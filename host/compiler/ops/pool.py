"""AVERAGE_POOL_2D and MAX_POOL_2D (``firmware/engine/pool.cc``): PoolParams."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "AVERAGE_POOL_2D": (1, schema.Pool2DOptionsT),
    "MAX_POOL_2D": (1, schema.Pool2DOptionsT),
}

KERNELS = {"AVERAGE_POOL_2D": "AveragePool", "MAX_POOL_2D": "MaxPool"}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """Either pool: kernel AveragePool or MaxPool, S8 or S16; input and output share scales."""
    o = op.builtinOptions
    inp, out = c.input_and_output(op, tensors)
    c.batch_one(inp)
    c.batch_one(out)
    _, in_h, in_w, channels = inp.shape
    _, out_h, out_w, out_c = out.shape
    if out_c != channels:
        raise c.OpError(f"{channels} input channels but {out_c} output channels")
    code = c.fused_activation(o)
    params = {
        "in_h": in_h,
        "in_w": in_w,
        "channels": channels,
        "out_h": out_h,
        "out_w": out_w,
        "k_h": o.filterHeight,
        "k_w": o.filterWidth,
        "stride_h": o.strideH,
        "stride_w": o.strideW,
        "pad_h": c.padding(o.padding, o.strideH, 1, in_h, o.filterHeight, out_h),
        "pad_w": c.padding(o.padding, o.strideW, 1, in_w, o.filterWidth, out_w),
        **c.activation_range(code, out),
    }
    kernel = c.kernel_name(KERNELS[name], out)
    return c.Op(index, name, kernel, "PoolParams", [inp.index], out.index, params)
