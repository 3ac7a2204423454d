"""FULLY_CONNECTED (``firmware/engine/fully_connected.cc``): FullyConnectedParams."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "FULLY_CONNECTED": (2, schema.FullyConnectedOptionsT),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """FULLY_CONNECTED: kernel FullyConnectedS8 or FullyConnectedS16; weights [units][depth]."""
    o = op.builtinOptions
    inp, out = c.input_and_output(op, tensors)
    c.zero_point_int16(inp, out)
    weights, data = c.weights(tensors, op.inputs[1])
    if o.weightsFormat != 0:
        raise c.OpError("only the default weights format is supported")
    if getattr(o, "asymmetricQuantizeInputs", False):
        raise c.OpError("hybrid (asymmetric input) fully connected is not supported")
    if len(weights.shape) != 2:
        raise c.OpError(f"weights have shape {list(weights.shape)}, expected 2-D")
    units, depth = weights.shape
    if inp.size % depth or out.size != (inp.size // depth) * units:
        raise c.OpError(f"input {list(inp.shape)} and output {list(out.shape)} do not fit weights")
    code = c.fused_activation(o)
    bias = c.bias(op, tensors, inp, units)
    if len(weights.scales) == 1:
        m, s = q.fc_multiplier(inp.scale, weights.scales[0], out.scale)
        mults, shifts = [m] * units, [s] * units
    elif len(weights.scales) == units:
        mults, shifts = q.conv_multipliers(inp.scale, weights.scales, out.scale, units)
    else:
        raise c.OpError(f"{len(weights.scales)} weight scales for {units} units ({inp.type_name})")
    params = {
        "rows": inp.size // depth,
        "depth": depth,
        "units": units,
        "output_offset": out.zero_point if out.bits == 8 else 0,
        **c.activation_range(code, out),
    }
    arrays = {"filter": data.astype(np.int8)}
    if inp.bits == 8:  # the input zero point folded into the bias
        sums = data.astype(np.int64).sum(axis=1)
        arrays["bias_folded"] = c.wrap32(bias.astype(np.int64) - inp.zero_point * sums)
    else:
        arrays["bias64"] = bias.astype(np.int64)
    arrays.update(c.requantization(mults, shifts))
    kernel = c.kernel_name("FullyConnected", inp)
    return c.Op(index, name, kernel, "FullyConnectedParams", [inp.index], out.index, params, arrays)
