"""DEQUANTIZE (``firmware/engine/dequantize.cc``): QuantizeParams, int8/int16 -> float32 (a
float-output model's last op), TFLite Micro's Dequantize: (x - zero point) * scale."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.compiler.ops.quantize import SUFFIX, edge_activation, scale_array
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "DEQUANTIZE": (1, None),
}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """Kernel DequantizeS8F32 or DequantizeS16F32."""
    inp = c.activation(tensors, op.inputs[0])
    out = edge_activation(tensors, op.outputs[0])
    if out.type_name != "FLOAT32":
        raise c.OpError(f"output is {out.type_name}; only float32 outputs run")
    if inp.size != out.size:
        raise c.OpError(f"{inp.size} values cannot become {out.size}")
    params = {
        "size": out.size,
        "input_offset": inp.zero_point,
        "output_offset": 0,
        "multiplier": 0,
        "shift": 0,
    }
    kernel = "Dequantize" + SUFFIX[inp.type_name] + "F32"
    return c.Op(
        index,
        name,
        kernel,
        "QuantizeParams",
        [inp.index],
        out.index,
        params,
        scale_array(inp.scale),
    )
