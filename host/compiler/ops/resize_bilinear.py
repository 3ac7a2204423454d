"""RESIZE_BILINEAR (``firmware/engine/resize_bilinear.cc``): ResizeBilinearParams; int8 only
(TFLite Micro has no int16 kernel), batch 1, a constant size; the rows, columns and weights of
TFLite Micro's ResizeBilinearInteger (10 fractional bits) are computed here."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "RESIZE_BILINEAR": (2, schema.ResizeBilinearOptionsT),
}

ONE = 1 << 10  # 1.0 in the kernel's fixed point


def _divide(a: int, b: int) -> int:
    """C++ integer division (toward zero)."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def scale_10(in_size: int, out_size: int, align: bool) -> int:
    """in_size / out_size (or (in - 1) / (out - 1) with aligned corners), rounded, 10 bits."""
    if align and out_size > 1:
        return (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return (ONE * in_size + out_size // 2) // out_size


def axis_table(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """Per output index: the lower and upper input index and the upper one's weight (of ONE)."""
    scale = scale_10(in_size, out_size, align)
    table = []
    for value in range(out_size):
        scaled = value * scale + (scale // 2 - (1 << 9) if half else 0)
        lower = max(_divide(scaled, ONE), 0)
        upper = min(_divide(scaled + ONE - 1, ONE), in_size - 1)
        table.append((lower, upper, scaled - ONE * lower))
    return np.asarray(table, dtype=np.int32).reshape(out_size, 3)


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """RESIZE_BILINEAR: kernel ResizeBilinearS8 with per-row and per-column tables."""
    inp, out = c.input_and_output(op, tensors)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro resizes int8 only)")
    in_h, in_w, out_h, out_w = dm.resize_sizes(op, tensors, inp, out)
    align = bool(op.builtinOptions.alignCorners)
    half = bool(op.builtinOptions.halfPixelCenters)
    if align and half:
        raise c.OpError("half_pixel_centers needs align_corners false (as TFLite Micro)")
    rows = axis_table(in_h, out_h, align, half)
    cols = axis_table(in_w, out_w, align, half)
    params = {"out_h": out_h, "out_w": out_w, "in_w": in_w, "channels": inp.shape[3]}
    arrays = {
        "y0": rows[:, 0].copy(),
        "y1": rows[:, 1].copy(),
        "dy": rows[:, 2].copy(),
        "x0": cols[:, 0].copy(),
        "x1": cols[:, 1].copy(),
        "dx": cols[:, 2].copy(),
    }
    return c.Op(
        index,
        name,
        "ResizeBilinearS8",
        "ResizeBilinearParams",
        [inp.index],
        out.index,
        params,
        arrays,
    )
