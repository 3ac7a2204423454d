"""DEPTHWISE_CONV_2D (``firmware/engine/depthwise_conv.cc``): ConvParams, depthwise layout."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops.conv import FilterLayout, convolution
from host.tflite import Tensor


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """DEPTHWISE_CONV_2D: kernel DepthwiseConvS8 or DepthwiseConvS16, any depth multiplier."""
    return convolution(index, name, op, tensors, _layout, "DepthwiseConv")


def _layout(weights: np.ndarray, in_c: int, out_c: int) -> FilterLayout:
    """Depthwise weights: [1][k_h][k_w][out_c], output channel oc reads input oc / multiplier."""
    _, k_h, k_w, w_out = weights.shape
    if w_out != out_c or out_c % in_c:
        raise c.OpError(f"weights {list(weights.shape)} do not fit {in_c} -> {out_c} channels")
    return FilterLayout(k_h, k_w, out_c // in_c, weights.astype(np.int64).sum(axis=(0, 1, 2)))
