"""DEPTHWISE_CONV_2D (``firmware/engine/depthwise_conv.cc``): ConvParams, depthwise layout."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops.conv import FilterLayout, convolution
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "DEPTHWISE_CONV_2D": (2, schema.DepthwiseConv2DOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """DEPTHWISE_CONV_2D: kernel DepthwiseConvS8 or DepthwiseConvS16, any depth multiplier.

    int8 with depth multiplier 1 and at least 4 channels also gets ``filter_pairs`` (see
    :func:`filter_pairs`); the kernel takes its generic path without them.
    """
    prepared = convolution(index, name, op, tensors, _layout, "DepthwiseConv")
    params = prepared.params
    if prepared.kernel == "DepthwiseConvS8" and params["depth_multiplier"] == 1:
        if params["out_c"] >= 4:  # at least one group of 4 channels
            prepared.arrays["filter_pairs"] = filter_pairs(prepared.arrays["filter"])
    return prepared


def _layout(weights: np.ndarray, in_c: int, out_c: int) -> FilterLayout:
    """Depthwise weights: [1][k_h][k_w][out_c], output channel oc reads input oc / multiplier."""
    _, k_h, k_w, w_out = weights.shape
    if w_out != out_c or out_c % in_c:
        raise c.OpError(f"weights {list(weights.shape)} do not fit {in_c} -> {out_c} channels")
    return FilterLayout(k_h, k_w, out_c // in_c, weights.astype(np.int64).sum(axis=(0, 1, 2)))


def filter_pairs(weights: np.ndarray) -> np.ndarray:
    """The weights of each group of 4 channels, tap by tap, sign-extended into int16 pairs.

    [out_c // 4][k_h * k_w][2] int32 words: channels 0 and 2 of the group (low, high half),
    then channels 1 and 3, the lanes the int8 kernel's SXTB16 gives for 4 input bytes.
    """
    taps = weights.reshape(-1, weights.shape[-1])  # [k_h * k_w][out_c]
    groups = taps.shape[1] // 4
    grouped = taps[:, : groups * 4].reshape(len(taps), groups, 4).transpose(1, 0, 2)
    lanes = np.ascontiguousarray(grouped[..., [0, 2, 1, 3]].astype("<i2"))
    return lanes.view("<i4").astype(np.int32).reshape(-1)
