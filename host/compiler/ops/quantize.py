"""QUANTIZE (``firmware/engine/quantize.cc``): QuantizeParams.

float32 -> int8/int16 (a float-input model's first op): TFLite Micro's AffineQuantize, with the
output scale as a float constant. int8/int16 -> int8/int16 (a requantize the converter emits,
e.g. before a concatenation of branches quantized differently): TFLite Micro's Requantize, with
the multiplier of double(input scale) / double(output scale).
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "QUANTIZE": (1, None),
}

SUFFIX = {"INT8": "S8", "INT16": "S16", "FLOAT32": "F32"}


def float_activation(tensors: list[Tensor], index: int) -> Tensor:
    """A float32 activation (not a constant): a float-I/O model's input or output."""
    if index < 0:
        raise c.OpError("a missing activation input")
    tensor = tensors[index]
    if tensor.data is not None:
        raise c.OpError(f"constant input {tensor.name!r} where an activation is expected")
    return tensor


def scale_array(scale: float) -> dict[str, np.ndarray]:
    """The ``scale`` pointer field: the float32 scale, as TFLite stores it."""
    return {"scale": np.asarray([scale], dtype=np.float32)}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """float input: kernel QuantizeF32S8/S16; int input: RequantizeS8S8 ... RequantizeS16S16."""
    out = c.activation(tensors, op.outputs[0])
    source = tensors[op.inputs[0]] if op.inputs[0] >= 0 else None
    params = {"size": out.size, "input_offset": 0, "output_offset": out.zero_point}
    if source is not None and source.type_name == "FLOAT32":
        inp = float_activation(tensors, op.inputs[0])
        params |= {"multiplier": 0, "shift": 0}
        kernel = "QuantizeF32" + SUFFIX[out.type_name]
        arrays = scale_array(out.scale)
    else:
        inp = c.activation(tensors, op.inputs[0])
        multiplier, shift = q.quantize_multiplier(
            float(np.float32(inp.scale)) / float(np.float32(out.scale))
        )
        params |= {"input_offset": inp.zero_point, "multiplier": multiplier, "shift": shift}
        kernel = "Requantize" + SUFFIX[inp.type_name] + SUFFIX[out.type_name]
        arrays = {}
    if inp.size != out.size:
        raise c.OpError(f"{inp.size} values cannot become {out.size}")
    return c.Op(index, name, kernel, "QuantizeParams", [inp.index], out.index, params, arrays)
