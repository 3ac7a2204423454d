"""What the data-movement ops share (no op of its own): their checks and the strided copy.

STRIDED_SLICE, SLICE, TRANSPOSE, REVERSE_V2, BROADCAST_TO, SPACE_TO_DEPTH and DEPTH_TO_SPACE all
run ``StridedCopy`` (``firmware/engine/strided_copy.cc``): a 5-D loop over the output reading the
input at an affine offset. None of these ops requantizes: TFLite Micro copies the values, so
input and output must share a quantization (REVERSE_V2 excepted: see reverse.py).
"""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import common as c
from host.tflite import Tensor

MAX_DIMS = 5  # the dimensions StridedCopy loops over


def same_quantization(inp: Tensor, out: Tensor) -> None:
    """A copy of values is only right when both tensors mean the same by them."""
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise c.OpError("input and output quantization differ (the values are copied)")


def constant_ints(
    tensors: list[Tensor], index: int, what: str, count: int, types: tuple[str, ...] = ("INT32",)
) -> list[int]:
    """A constant integer operand (``what``: its name in errors) of ``count`` values."""
    if index < 0 or tensors[index].data is None:
        raise c.OpError(f"the {what} must be constant")
    tensor = tensors[index]
    if tensor.type_name not in types:
        raise c.OpError(f"the {what} is {tensor.type_name}, not {' or '.join(types)}")
    values = [int(v) for v in np.asarray(tensor.data).reshape(-1)]
    if len(values) != count:
        raise c.OpError(f"the {what} has {len(values)} values, {count} expected")
    return values


def element_strides(shape: tuple[int, ...]) -> list[int]:
    """Row-major strides in elements of each dimension of ``shape``."""
    return [math.prod(shape[axis + 1 :]) for axis in range(len(shape))]


def strided_copy(
    index: int,
    name: str,
    inp: Tensor,
    out: Tensor,
    start: int,
    counts: list[int],
    strides: list[int],
) -> c.Op:
    """The StridedCopy op: output index (i_k) reads input element start + sum(i_k * strides[k])."""
    if len(counts) > MAX_DIMS:
        raise c.OpError(f"{len(counts)}-D tensors are not supported (at most {MAX_DIMS})")
    if math.prod(counts) != out.size or out.size == 0:
        raise c.OpError(f"the copy makes {math.prod(counts)} values for {out.size} outputs")
    pad = MAX_DIMS - len(counts)
    arrays = {
        "count": np.asarray([1] * pad + counts, dtype=np.int32),
        "stride": np.asarray([0] * pad + strides, dtype=np.int32),
    }
    params = {"element_bytes": out.nbytes // out.size, "start": start}
    return c.Op(
        index, name, "StridedCopy", "StridedCopyParams", [inp.index], out.index, params, arrays
    )


def resize_sizes(
    op: schema.OperatorT, tensors: list[Tensor], inp: Tensor, out: Tensor
) -> tuple[int, ...]:
    """(in_h, in_w, out_h, out_w) of a batch-1 NHWC resize to its constant size, checked."""
    same_quantization(inp, out)
    c.batch_one(inp)
    c.batch_one(out)
    _, in_h, in_w, channels = inp.shape
    out_h, out_w = constant_ints(tensors, op.inputs[1], "size", 2)
    if list(out.shape) != [1, out_h, out_w, channels]:
        raise c.OpError(f"output shape {list(out.shape)} does not match size {[out_h, out_w]}")
    return in_h, in_w, out_h, out_w


def copy_operands(
    op: schema.OperatorT,
    tensors: list[Tensor],
    what: str,
    max_rank: int = MAX_DIMS,
    same_scale: bool = True,
) -> tuple[Tensor, Tensor]:
    """Input and output of a copy that TFLite Micro ``what``s (transposes, slices) in 1-D to
    ``max_rank``-D; with ``same_scale``, quantized alike."""
    inp, out = c.input_and_output(op, tensors)
    if same_scale:
        same_quantization(inp, out)
    if not 1 <= len(inp.shape) <= max_rank:
        raise c.OpError(f"{len(inp.shape)}-D input; TFLite Micro {what} 1-D to {max_rank}-D")
    return inp, out


def block_operands(op: schema.OperatorT, tensors: list[Tensor]) -> tuple[Tensor, Tensor, int]:
    """Input, output and block size of DEPTH_TO_SPACE or SPACE_TO_DEPTH (int8, batch 1)."""
    inp, out = c.input_and_output(op, tensors)
    if inp.type_name != "INT8":
        raise c.OpError(f"{inp.type_name} is not supported (TFLite Micro moves int8 only)")
    same_quantization(inp, out)
    c.batch_one(inp)
    block = op.builtinOptions.blockSize
    if block < 1:
        raise c.OpError(f"block size {block}")
    return inp, out, block
