"""PRELU (``firmware/engine/prelu.cc``): PreluParams, int8 with a constant int8 alpha.

TFLite Micro's Prepare: multiplier 1 is input scale / output scale, multiplier 2 input scale *
alpha scale / output scale (double arithmetic). Alpha broadcasts against the input as TFLite's
BroadcastPrelu4DSlow does; the compiler stores the shortest run of alpha values that repeats
over the input (one run per channel for Keras's PReLU with shared spatial axes). The converter
has no int16 PRELU, so int16 is refused.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "PRELU": (2, None),
}

F32 = np.float32


def alpha_period(alpha: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Alpha broadcast to ``shape``, flattened, cut to the shortest prefix that repeats."""
    try:
        full = np.broadcast_to(alpha, shape).reshape(-1)
    except ValueError as error:
        raise c.OpError(f"alpha of shape {list(alpha.shape)} does not broadcast") from error
    for k in range(len(shape) + 1):
        period = int(np.prod(shape[len(shape) - k :], dtype=np.int64))
        if np.array_equal(np.tile(full[:period], full.size // period), full):
            return full[:period]
    return full  # unreachable: k = rank is the whole tensor


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """PRELU: kernel PreluS8."""
    inp, out = c.input_and_output(op, tensors)
    if inp.bits != 8:
        raise c.OpError("only int8 runs (the TFLite converter makes no int16 PRELU)")
    alpha = tensors[op.inputs[1]]
    if alpha.data is None or alpha.type_name != "INT8":
        raise c.OpError("alpha must be a constant int8 tensor")
    if len(alpha.scales) != 1:
        raise c.OpError("alpha needs per-tensor quantization")
    if tuple(inp.shape) != tuple(out.shape):
        raise c.OpError("the input and output shapes differ")
    values = alpha_period(np.asarray(alpha.data).reshape(alpha.shape), tuple(out.shape))
    in_scale, alpha_scale, out_scale = (float(F32(t.scale)) for t in (inp, alpha, out))
    m1, s1 = q.quantize_multiplier(in_scale / out_scale)
    m2, s2 = q.quantize_multiplier(in_scale * alpha_scale / out_scale)
    params = {
        "size": out.size,
        "alpha_size": values.size,
        "input_offset": -inp.zero_point,
        "alpha_offset": -alpha.zero_point,
        "output_offset": out.zero_point,
        "multiplier_1": m1,
        "shift_1": s1,
        "multiplier_2": m2,
        "shift_2": s2,
    }
    arrays = {"alpha": values.astype(np.int8)}
    return c.Op(index, name, "PreluS8", "PreluParams", [inp.index], out.index, params, arrays)
