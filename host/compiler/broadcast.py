"""Elementwise binary ops with broadcasting (``BinaryParams``, ``firmware/engine/broadcast.h``).

ADD, SUB, MUL, MAXIMUM, MINIMUM and SQUARED_DIFFERENCE share this: their operands (two
activations, or one activation and one constant emitted as an array), the output shape
TFLite's broadcasting rules give, and the merged loop dimensions with each input's strides.
Each op's prepare module adds its own arithmetic constants.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

MERGED_DIMS = 4  # the loops of broadcast.h
# BinaryParams' arithmetic fields, in declaration order; an op leaves the ones it does not use 0.
ARITHMETIC = (
    "input1_offset",
    "input2_offset",
    "output_offset",
    "left_shift",
    "input1_multiplier",
    "input1_shift",
    "input2_multiplier",
    "input2_shift",
    "output_multiplier",
    "output_shift",
    "act_min",
    "act_max",
)


def operands(op: schema.OperatorT, tensors: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Both inputs and the output: int8 or int16 like the output, per-tensor quantized, at
    most one of the inputs a constant."""
    out = c.activation(tensors, op.outputs[0])
    inputs = []
    for index in op.inputs[:2]:
        if index >= 0 and tensors[index].data is not None:
            tensor = tensors[index]
            if len(tensor.scales) != 1:
                raise c.OpError(f"constant {tensor.name!r} needs per-tensor quantization")
        else:
            tensor = c.activation(tensors, index)
        c.same_type(tensor, out)
        inputs.append(tensor)
    a, b = inputs
    if a.data is not None and b.data is not None:
        raise c.OpError("both inputs are constants")
    return a, b, out


def loops(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> dict[str, int]:
    """The ``out0..3``, ``a_stride0..3`` and ``b_stride0..3`` fields: the output's dimensions
    merged where both inputs vary alike, with each input's element stride along them."""
    rank = max(len(a), len(b))
    a_dims = (1,) * (rank - len(a)) + tuple(a)
    b_dims = (1,) * (rank - len(b)) + tuple(b)
    for x, y in zip(a_dims, b_dims, strict=True):
        if x != y and 1 not in (x, y):
            raise c.OpError(f"shapes {list(a)} and {list(b)} do not broadcast")
    expected = tuple(max(x, y) for x, y in zip(a_dims, b_dims, strict=True))
    if tuple(out) != expected:
        raise c.OpError(f"output shape {list(out)} is not the broadcast shape {list(expected)}")
    merged: list[list[int]] = []  # [extent, a varies, b varies]
    for x, y, n in zip(a_dims, b_dims, expected, strict=True):
        if n == 1:
            continue
        varies = [int(x == n), int(y == n)]
        if merged and merged[-1][1:] == varies:
            merged[-1][0] *= n
        else:
            merged.append([n, *varies])
    if len(merged) > MERGED_DIMS:
        raise c.OpError(
            f"broadcasting {list(a)} with {list(b)} needs {len(merged)} loops, "
            f"the engine has {MERGED_DIMS}"
        )
    merged = [[1, 1, 1]] * (MERGED_DIMS - len(merged)) + merged
    fields = {f"out{i}": extent for i, (extent, _, _) in enumerate(merged)}
    for name, column in (("a", 1), ("b", 2)):
        stride = 1
        strides = [0] * MERGED_DIMS
        for i in reversed(range(MERGED_DIMS)):
            if merged[i][column]:
                strides[i] = stride
                stride *= merged[i][0]
        fields |= {f"{name}_stride{i}": s for i, s in enumerate(strides)}
    return fields


def binary_op(
    index: int,
    name: str,
    kernel: str,
    operands: tuple[Tensor, Tensor, Tensor],
    arithmetic: dict[str, int],
) -> c.Op:
    """The ``BinaryParams`` call of ``kernel`` (+ S8 or S16) on the operands, with the op's
    arithmetic fields (others 0) and a constant input emitted as ``constant8``/``constant16``."""
    a, b, out = operands
    unknown = set(arithmetic) - set(ARITHMETIC)
    if unknown:
        raise ValueError(f"not BinaryParams fields: {sorted(unknown)}")
    constant = a if a.data is not None else b if b.data is not None else None
    params = {
        **loops(a.shape, b.shape, out.shape),
        **{field: arithmetic.get(field, 0) for field in ARITHMETIC},
        "constant_input": 0 if constant is None else (1 if constant is a else 2),
    }
    arrays = {}
    inputs = [a.index, b.index]
    if constant is not None:
        data = np.asarray(constant.data).reshape(-1).astype(constant.dtype)
        arrays[f"constant{out.bits}"] = data
        inputs.remove(constant.index)
    return c.Op(
        index, name, c.kernel_name(kernel, out), "BinaryParams", inputs, out.index, params, arrays
    )
