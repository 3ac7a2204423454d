"""RESIZE_NEAREST_NEIGHBOR (``firmware/engine/resize_nearest.cc``): ResizeNearestParams; int8
and int16, batch 1, a constant size; the input row and column of each output row and column
are computed here as TFLite Micro's GetNearestNeighbor does, in float32."""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "RESIZE_NEAREST_NEIGHBOR": (2, schema.ResizeNearestNeighborOptionsT),
}


def nearest(value: int, in_size: int, out_size: int, align: bool, half: bool) -> int:
    """The input index of output index ``value`` (GetNearestNeighbor, float32 arithmetic)."""
    f = np.float32
    if align and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    position = float((f(value) + f(0.5 if half else 0.0)) * scale)
    if align:  # TfLiteRound: half away from zero
        index = int(math.copysign(math.floor(abs(position) + 0.5), position))
    else:
        index = math.floor(position)
    index = min(index, in_size - 1)
    return max(0, index) if half else index


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """RESIZE_NEAREST_NEIGHBOR: kernel ResizeNearest with index tables for rows and columns."""
    inp, out = c.input_and_output(op, tensors)
    in_h, in_w, out_h, out_w = dm.resize_sizes(op, tensors, inp, out)
    align = bool(op.builtinOptions.alignCorners)
    half = bool(op.builtinOptions.halfPixelCenters)
    rows = [nearest(y, in_h, out_h, align, half) for y in range(out_h)]
    cols = [nearest(x, in_w, out_w, align, half) for x in range(out_w)]
    pixel_bytes = out.nbytes // (out_h * out_w)
    params = {"out_h": out_h, "out_w": out_w, "pixel_bytes": pixel_bytes}
    params["row_bytes"] = in_w * pixel_bytes
    arrays = {"rows": np.asarray(rows, dtype=np.int32), "cols": np.asarray(cols, dtype=np.int32)}
    return c.Op(
        index, name, "ResizeNearest", "ResizeNearestParams", [inp.index], out.index, params, arrays
    )
