"""MAXIMUM and MINIMUM (``firmware/engine/maximum_minimum.cc``): BinaryParams, broadcasting and
one constant input allowed; the raw values are compared, as TFLite Micro does, with no check or
rescaling of the quantization."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from host.compiler import broadcast
from host.compiler.ops import common as c
from host.tflite import Tensor

BUILTINS: c.Builtins = {
    "MAXIMUM": (2, None),
    "MINIMUM": (2, None),
}
KERNELS = {"MAXIMUM": "Maximum", "MINIMUM": "Minimum"}


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """MAXIMUM or MINIMUM of the raw input values (TFLite Micro broadcasts up to 5-D)."""
    a, b, out = broadcast.operands(op, tensors)
    if max(len(a.shape), len(b.shape)) > 5:
        raise c.OpError(f"TFLite Micro's {name} broadcasts at most 5-D tensors")
    return broadcast.binary_op(index, name, KERNELS[name], (a, b, out), {})
