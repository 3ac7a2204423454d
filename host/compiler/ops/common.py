"""What every op's prepare module shares: the Op it returns, its error, and TFLite's checks.

A prepare function validates one op as TFLite Micro's Prepare does and computes the values of
its kernel's parameter struct (``firmware/engine/kernels.h``). ``Op.params`` (integers) and
``Op.arrays`` (constant data behind pointer fields) are emitted as designated initializers in
that order, so both must list their fields in the struct's declaration order: the C++ compiler
rejects a misspelt, misordered or missing field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.errors import UserError
from host.tflite import Tensor

ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


@dataclass
class Op:
    """One engine call: kernel function, parameter struct values, constants to emit."""

    index: int
    name: str
    kernel: str  # C++ function in namespace tr, or "Copy"
    struct: str | None  # parameter struct type in kernels.h
    inputs: list[int]  # activation tensor indices read
    output: int
    params: dict[str, int] = field(default_factory=dict)  # integer fields, declaration order
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # pointer fields -> data, same
    alias: bool = False  # RESHAPE: output may share the input's storage


# (op index, builtin name, the op as read, every tensor of the graph) -> the prepared Op, or one
# Op per output (SPLIT)
Prepare = Callable[[int, str, schema.OperatorT, list[Tensor]], Op | list[Op]]
# A module's BUILTINS: builtin name -> (at least this many inputs, options of this type or None)
Builtins = dict[str, tuple[int, type | None]]


class OpError(UserError):
    """A reason an op cannot run; the graph prefixes the op's index and name."""


def kernel_name(base: str, tensor: Tensor) -> str:
    """The kernel for a tensor's precision: ``base`` + S8 or S16."""
    return base + ("S8" if tensor.bits == 8 else "S16")


def activation(tensors: list[Tensor], index: int) -> Tensor:
    """An int8 or int16 per-tensor-quantized activation (not a constant)."""
    if index < 0:
        raise OpError("a missing activation input")
    tensor = tensors[index]
    if tensor.data is not None:
        raise OpError(f"constant input {tensor.name!r} where an activation is expected")
    if tensor.type_name not in ("INT8", "INT16"):
        raise OpError(f"tensor {tensor.name!r} is {tensor.type_name}; only int8 and int16 run")
    if len(tensor.scales) != 1:
        raise OpError(f"tensor {tensor.name!r} needs per-tensor quantization")
    if not np.float32(np.finfo(np.float32).tiny) <= np.float32(tensor.scale) < np.inf:
        raise OpError(
            f"tensor {tensor.name!r} has scale {tensor.scale:.3g}, not a normal float32 "
            f"(TFLite Micro's quantization arithmetic would overflow)"
        )
    return tensor


def input_and_output(op: schema.OperatorT, tensors: list[Tensor]) -> tuple[Tensor, Tensor]:
    """The first input and the output, both activations of the same type."""
    inp = activation(tensors, op.inputs[0])
    out = activation(tensors, op.outputs[0])
    same_type(inp, out)
    return inp, out


def same_type(inp: Tensor, out: Tensor) -> None:
    if inp.type_name != out.type_name:
        raise OpError(f"input is {inp.type_name} but output is {out.type_name}")


def fused_activation(options) -> int:
    """The fused activation code, if the engine supports it (NONE, RELU, RELU_N1_TO_1, RELU6)."""
    code = options.fusedActivationFunction
    if code not in (0, 1, 2, 3):
        raise OpError(f"fused activation {ACTIVATION_NAMES.get(code, code)} is not supported")
    return code


def activation_range(code: int, out: Tensor) -> dict[str, int]:
    """The ``act_min`` and ``act_max`` fields for a fused activation on the output."""
    lo, hi = q.activation_range(code, out.scale, out.zero_point, out.bits)
    return {"act_min": lo, "act_max": hi}


def zero_point_int16(*tensors: Tensor) -> None:
    for tensor in tensors:
        if tensor.type_name == "INT16" and tensor.zero_point != 0:
            raise OpError(f"int16 tensor {tensor.name!r} has zero point {tensor.zero_point}, not 0")


def batch_one(tensor: Tensor) -> None:
    if len(tensor.shape) != 4 or tensor.shape[0] != 1:
        raise OpError(f"needs a 4-D input with batch 1, got shape {list(tensor.shape)}")


def weights(tensors: list[Tensor], index: int) -> tuple[Tensor, np.ndarray]:
    """Constant symmetric int8 weights: the tensor and its data."""
    if index < 0 or tensors[index].data is None:
        raise OpError("weights must be constant")
    tensor = tensors[index]
    if tensor.type_name != "INT8":
        raise OpError(f"weights are {tensor.type_name}; only int8 weights are supported")
    if np.any(tensor.zero_points != 0):
        raise OpError("weights must be symmetric (zero point 0)")
    return tensor, np.asarray(tensor.data)


def bias(op: schema.OperatorT, tensors: list[Tensor], inp: Tensor, channels: int) -> np.ndarray:
    """The op's bias (third input): int32 for int8 inputs, int64 for int16; zeros if absent."""
    want = "INT64" if inp.type_name == "INT16" else "INT32"
    index = op.inputs[2] if len(op.inputs) > 2 else -1
    if index < 0:
        return np.zeros(channels, dtype=np.int64 if want == "INT64" else np.int32)
    tensor = tensors[index]
    if tensor.data is None:
        raise OpError("bias must be constant")
    if tensor.type_name != want:
        raise OpError(f"{inp.type_name} inputs need a {want} bias, got {tensor.type_name}")
    if tensor.size != channels:
        raise OpError(f"bias has {tensor.size} values for {channels} channels")
    return tensor.data.reshape(-1)


def padding(mode: int, stride: int, dilation: int, size: int, k: int, out: int) -> int:
    """TFLite's output size check and leading padding (ComputePaddingHeightWidth)."""
    effective = (k - 1) * dilation + 1
    if mode == schema.Padding.SAME:
        expected = (size + stride - 1) // stride
    elif mode == schema.Padding.VALID:
        expected = (size + stride - effective) // stride
    else:
        raise OpError(f"padding mode {mode} is not supported")
    if expected != out:
        raise OpError(f"output size {out} does not match the computed size {expected}")
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2


def requantization(multipliers: list[int], shifts: list[int]) -> dict[str, np.ndarray]:
    """The ``multiplier`` and ``shift`` arrays (one per output channel)."""
    return {
        "multiplier": np.asarray(multipliers, dtype=np.int32),
        "shift": np.asarray(shifts, dtype=np.int32),
    }


def wrap32(values: np.ndarray) -> np.ndarray:
    """int32 two's complement wrap-around (the kernels' accumulators wrap the same way)."""
    return ((values.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)
