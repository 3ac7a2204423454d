"""SOFTMAX (``firmware/engine/softmax.cc``): SoftmaxParams over the last dimension."""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "SOFTMAX": (1, schema.SoftmaxOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """SOFTMAX: SoftmaxS8 (int8 -> int8), SoftmaxS8S16 (int8 -> int16) or SoftmaxS16 (LUTs)."""
    inp = c.activation(tensors, op.inputs[0])
    out = c.activation(tensors, op.outputs[0])
    beta = op.builtinOptions.beta
    depth = inp.shape[-1] if inp.shape else 1
    if inp.size != out.size:
        raise c.OpError("input and output sizes differ")
    params = {"rows": inp.size // depth, "depth": depth}
    arrays: dict[str, np.ndarray] = {}
    if inp.bits == 8:
        if out.bits == 8 and (out.zero_point != -128 or out.scale != 1.0 / 256):
            raise c.OpError("int8 output needs scale 1/256 and zero point -128")
        if out.bits == 16 and (
            out.zero_point != -32768 or not math.isclose(out.scale, 1 / 65536, rel_tol=1e-3)
        ):
            raise c.OpError(
                "int16 output of an int8 softmax needs scale 1/65536, zero point -32768"
            )
        m, shift, diff_min = q.softmax_s8_params(beta, inp.scale)
        params.update(input_multiplier=m, input_left_shift=shift, diff_min=diff_min)
        kernel = "SoftmaxS8" if out.bits == 8 else "SoftmaxS8S16"
    else:
        c.same_type(inp, out)
        if out.zero_point != 0 or not math.isclose(out.scale, 1 / 32768, rel_tol=1e-3):
            raise c.OpError("int16 output needs scale 1/32768 and zero point 0")
        m, shift = q.softmax_s16_params(beta, inp.scale)
        params.update(input_multiplier=m, input_left_shift=shift, diff_min=0)
        exp_lut, recip_lut = q.softmax_s16_luts()
        arrays = {
            "exp_lut": np.asarray(exp_lut, dtype=np.int16),
            "recip_lut": np.asarray(recip_lut, dtype=np.int16),
        }
        kernel = "SoftmaxS16"
    return c.Op(index, name, kernel, "SoftmaxParams", [inp.index], out.index, params, arrays)
