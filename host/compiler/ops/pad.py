"""PAD and PADV2 (``firmware/engine/pad.cc``): PadParams, up to 4-D, a copy plus a fill."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "PAD": (2, None),
    "PADV2": (3, None),
}

DIMS = 4


def _constant_value(op: schema.OperatorT, tensors: list[Tensor], out: Tensor) -> int:
    """The fill value: PADV2's constant (same quantization as the output), else the zero point."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return out.zero_point
    tensor = tensors[op.inputs[2]]
    if tensor.data is None or tensor.size != 1:
        raise c.OpError("the pad value must be one constant")
    if tensor.type_name != out.type_name:
        raise c.OpError(f"the pad value is {tensor.type_name} but the output is {out.type_name}")
    if tensor.scale != out.scale or tensor.zero_point != out.zero_point:
        raise c.OpError("the pad value and the output are quantized differently")
    return int(np.asarray(tensor.data).reshape(-1)[0])


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """PAD, PADV2: kernel PadS8 or PadS16; the input's values are copied, never requantized."""
    inp, out = c.input_and_output(op, tensors)
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise c.OpError("input and output quantization differ")
    paddings = tensors[op.inputs[1]]
    if paddings.data is None:
        raise c.OpError("paddings must be constant")
    rank = len(inp.shape)
    pads = np.asarray(paddings.data).reshape(-1, 2).astype(np.int64)
    if rank > DIMS or pads.shape[0] != rank or np.any(pads < 0):
        raise c.OpError(f"needs up to {DIMS}-D input and one nonnegative pair per dimension")
    lead = DIMS - rank
    in_dims = [1] * lead + list(inp.shape)
    before = [0] * lead + pads[:, 0].tolist()
    out_dims = [1] * lead + list(out.shape)
    expected = [d + int(p.sum()) for d, p in zip(inp.shape, pads, strict=True)]
    if expected != list(out.shape):
        raise c.OpError(f"output shape {list(out.shape)} is not the padded {expected}")
    params: dict[str, int] = {}
    for prefix, values in (("in", in_dims), ("before", before), ("out", out_dims)):
        params.update({f"{prefix}{i}": int(v) for i, v in enumerate(values)})
    params["pad_value"] = _constant_value(op, tensors, out)
    kernel = c.kernel_name("Pad", out)
    return c.Op(index, name, kernel, "PadParams", [inp.index], out.index, params)
