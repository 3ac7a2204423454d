"""QUANTIZE (``firmware/engine/quantize.cc``): QuantizeParams.

float32 -> int8/int16 (a float-input model's first op): TFLite Micro's AffineQuantize, with the
output scale as a float constant. int8/int16 -> int8/int16 (a requantize the converter emits,
e.g. before a concatenation of branches quantized differently), and uint8 -> int8 / int8 ->
uint8 (a uint8-I/O model's first and last op): TFLite Micro's Requantize, with the multiplier
of double(input scale) / double(output scale).
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

SUFFIX = {"INT8": "S8", "INT16": "S16", "UINT8": "U8", "FLOAT32": "F32"}
# The type pairs TFLite Micro's QUANTIZE runs (uint8 only at a model's edge: graph.py).
PAIRS = {
    ("FLOAT32", "INT8"),
    ("FLOAT32", "INT16"),
    ("INT8", "INT8"),
    ("INT8", "INT16"),
    ("INT8", "UINT8"),
    ("INT16", "INT8"),
    ("INT16", "INT16"),
    ("UINT8", "INT8"),
}


def edge_activation(tensors: list[Tensor], index: int) -> Tensor:
    """A float32 or uint8 activation (not a constant): a model's input or output."""
    if index < 0:
        raise c.OpError("a missing activation input")
    tensor = tensors[index]
    if tensor.data is not None:
        raise c.OpError(f"constant input {tensor.name!r} where an activation is expected")
    return tensor


def quantized(tensors: list[Tensor], index: int) -> Tensor:
    """An int8, int16 or uint8 per-tensor-quantized activation."""
    if index < 0 or tensors[index].type_name != "UINT8":
        return c.activation(tensors, index)
    tensor = edge_activation(tensors, index)
    if len(tensor.scales) != 1:
        raise c.OpError(f"tensor {tensor.name!r} needs per-tensor quantization")
    return tensor


def scale_array(scale: float) -> dict[str, np.ndarray]:
    """The ``scale`` pointer field: the float32 scale, as TFLite stores it."""
    return {"scale": np.asarray([scale], dtype=np.float32)}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """float input: kernel QuantizeF32S8/S16; integer input: Requantize<in><out> (S8, S16, U8)."""
    out = quantized(tensors, op.outputs[0])
    source = tensors[op.inputs[0]] if op.inputs[0] >= 0 else None
    floating = source is not None and source.type_name == "FLOAT32"
    inp = edge_activation(tensors, op.inputs[0]) if floating else quantized(tensors, op.inputs[0])
    if (inp.type_name, out.type_name) not in PAIRS:
        raise c.OpError(f"{inp.type_name} to {out.type_name} is not supported")
    if inp.size != out.size:
        raise c.OpError(f"{inp.size} values cannot become {out.size}")
    params = {"size": out.size, "input_offset": 0, "output_offset": out.zero_point}
    if floating:
        params |= {"multiplier": 0, "shift": 0}
        kernel = "QuantizeF32" + SUFFIX[out.type_name]
        arrays = scale_array(out.scale)
    else:
        multiplier, shift = q.quantize_multiplier(
            float(np.float32(inp.scale)) / float(np.float32(out.scale))
        )
        params |= {"input_offset": inp.zero_point, "multiplier": multiplier, "shift": shift}
        kernel = "Requantize" + SUFFIX[inp.type_name] + SUFFIX[out.type_name]
        arrays = {}
    return c.Op(index, name, kernel, "QuantizeParams", [inp.index], out.index, params, arrays)
