"""RELU and RELU6 as ops (``firmware/engine/activation.cc``): ActivationParams.

TFLite Micro's RELU requantizes (input to output scale) and clamps at the output's zero; its
RELU6 clamps the raw input values to the input's quantized 0 and 6, with no requantization.
(TFLite Micro has no RELU_N1_TO_1 kernel, so the engine refuses that op as any unknown one.)
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "RELU": (1, None),
    "RELU6": (1, None),
}


def _limits(tensor: Tensor) -> np.iinfo:
    return np.iinfo(np.int8 if tensor.bits == 8 else np.int16)


def _quantized(value: float, tensor: Tensor) -> int:
    """FloatToQuantizedType: round(value / scale) in float32, plus the zero point, saturated."""
    info = _limits(tensor)
    steps = float(np.float32(value) / np.float32(tensor.scale))
    return int(np.clip(q.round_away(steps) + tensor.zero_point, info.min, info.max))


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """RELU: kernel ActivationS8/S16 with requantize 1; RELU6: requantize 0."""
    inp, out = c.input_and_output(op, tensors)
    c.zero_point_int16(inp, out)
    info = _limits(out)
    if name == "RELU":
        multiplier, shift = q.quantize_multiplier(inp.scale / out.scale)
        params = {"requantize": 1, "multiplier": multiplier, "shift": shift}
        params |= {"act_min": max(int(info.min), out.zero_point), "act_max": int(info.max)}
    else:
        params = {"requantize": 0, "multiplier": 0, "shift": 0}
        params |= {"act_min": _quantized(0.0, inp), "act_max": _quantized(6.0, inp)}
    params = {
        "size": out.size,
        "input_offset": inp.zero_point,
        "output_offset": out.zero_point,
        **params,
    }
    kernel = c.kernel_name("Activation", out)
    return c.Op(index, name, kernel, "ActivationParams", [inp.index], out.index, params)
