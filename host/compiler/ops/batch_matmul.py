"""BATCH_MATMUL (``firmware/engine/batch_matmul.cc``): BatchMatMulParams; int8 and int16, two
activations of 2 to 5 dimensions with broadcast batch dimensions, adj_x and adj_y, as TFLite
Micro (its multiplier: GetQuantizedConvolutionMultipler; no fused activation)."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.compiler.ops import data_movement as dm
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "BATCH_MATMUL": (2, schema.BatchMatMulOptionsT),
}

BATCH_DIMS = 3  # TFLite Micro: at most 5 dimensions, the last two the matrices


def _batch_strides(shape: list[int], batches: list[int]) -> list[int]:
    """Element strides of the batch dimensions of a [*batch, rows, cols] operand extended to
    5-D; 0 where it broadcasts."""
    strides = dm.element_strides(tuple(shape))
    return [0 if d == 1 and n > 1 else s for d, n, s in zip(shape, batches, strides, strict=False)]


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """BATCH_MATMUL: kernel BatchMatMulS8/S16 over the broadcast batches."""
    lhs = c.activation(tensors, op.inputs[0])
    rhs = c.activation(tensors, op.inputs[1])
    out = c.activation(tensors, op.outputs[0])
    c.same_type(lhs, out)
    c.same_type(rhs, out)
    c.zero_point_int16(lhs, rhs, out)
    for tensor in (lhs, rhs):
        if not 2 <= len(tensor.shape) <= 2 + BATCH_DIMS:
            raise c.OpError(f"{len(tensor.shape)}-D operand; TFLite Micro takes 2-D to 5-D")
    l_shape = [1] * (5 - len(lhs.shape)) + list(lhs.shape)
    r_shape = [1] * (5 - len(rhs.shape)) + list(rhs.shape)
    batches = []
    for a, b in zip(l_shape[:BATCH_DIMS], r_shape[:BATCH_DIMS], strict=True):
        if a != b and 1 not in (a, b):
            raise c.OpError(f"batch dimensions {lhs.shape} and {rhs.shape} do not broadcast")
        batches.append(max(a, b))
    adj_x, adj_y = bool(op.builtinOptions.adjX), bool(op.builtinOptions.adjY)
    l_rows, l_cols = l_shape[3:]
    r_rows, r_cols = r_shape[3:]
    rows, depth = (l_cols, l_rows) if adj_x else (l_rows, l_cols)
    cols, r_depth = (r_rows, r_cols) if adj_y else (r_cols, r_rows)
    if depth != r_depth:
        raise c.OpError(f"operands {list(lhs.shape)} and {list(rhs.shape)} do not multiply")
    rank = max(len(lhs.shape), len(rhs.shape))
    expected = (batches + [rows, cols])[5 - rank :]
    if list(out.shape) != expected:
        raise c.OpError(f"output shape {list(out.shape)} is not the product's {expected}")
    multiplier, shift = q.fc_multiplier(lhs.scale, rhs.scale, out.scale)
    params = {
        "rows": rows,
        "cols": cols,
        "depth": depth,
        "lhs_row_stride": 1 if adj_x else l_cols,
        "lhs_depth_stride": l_cols if adj_x else 1,
        "rhs_depth_stride": 1 if adj_y else r_cols,
        "rhs_col_stride": r_cols if adj_y else 1,
        "lhs_offset": -lhs.zero_point,
        "rhs_offset": -rhs.zero_point,
        "output_offset": out.zero_point,
        "multiplier": multiplier,
        "shift": shift,
    }
    arrays = {
        "batches": np.asarray(batches, dtype=np.int32),
        "lhs_batch": np.asarray(_batch_strides(l_shape, batches), dtype=np.int32),
        "rhs_batch": np.asarray(_batch_strides(r_shape, batches), dtype=np.int32),
    }
    kernel = c.kernel_name("BatchMatMul", out)
    return c.Op(
        index, name, kernel, "BatchMatMulParams", [lhs.index, rhs.index], out.index, params, arrays
    )
