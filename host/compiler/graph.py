"""Reading a .tflite flatbuffer and turning each op into engine kernel parameters ("prepare").

Every check that TFLite Micro does in its prepare step, or that the engine needs, raises
``UserError`` naming the op, its index and the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.errors import UserError

OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
NUMPY_TYPES = {
    schema.TensorType.INT8: np.int8,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.FLOAT32: np.float32,
}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
SUPPORTED = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "RESHAPE",
    "SOFTMAX",
)


@dataclass
class Tensor:
    """One tensor: shape, type, quantization, and its data when it is a constant."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str
    dtype: type | None
    scales: np.ndarray
    zero_points: np.ndarray
    data: np.ndarray | None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if len(self.scales) else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def bits(self) -> int:
        return 16 if self.type_name == "INT16" else 8


@dataclass
class Op:
    """One engine call: kernel function, parameter struct values, constants to emit."""

    index: int
    name: str
    kernel: str  # C++ function in namespace tr, or "Copy"
    struct: str | None  # parameter struct type
    inputs: list[int]  # activation tensor indices read
    output: int
    params: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # pointer field -> data
    alias: bool = False  # RESHAPE: output may share the input's storage


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    input: int
    output: int


class _OpError(UserError):
    pass


def load_graph(data: bytes) -> Graph:
    """Parse a .tflite file's bytes and prepare every op."""
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file
        raise UserError(f"not a readable .tflite flatbuffer ({error})") from error
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise UserError(
            f"the engine runs models with one subgraph, this one has {len(model.subgraphs or [])}"
        )
    graph = model.subgraphs[0]
    tensors = [_tensor(i, t, model) for i, t in enumerate(graph.tensors)]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(
            f"the engine runs models with one input and one output, this one has "
            f"{len(graph.inputs)} and {len(graph.outputs)}"
        )
    for role, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = tensors[index]
        if tensor.type_name not in ("INT8", "INT16"):
            raise UserError(
                f"model {role} {tensor.name!r} is {tensor.type_name}; the engine runs fully "
                f"integer models (int8 or int16 inputs and outputs)"
            )
    ops = []
    for index, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        name = OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if name == "CUSTOM" or code.customCode:
            custom = code.customCode.decode() if code.customCode else "?"
            raise UserError(f"op {index} (CUSTOM {custom}): custom ops are not supported")
        if name not in SUPPORTED:
            raise UserError(
                f"op {index} ({name}): not supported by the engine "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        try:
            ops.append(_PREPARE[name](index, name, op, tensors))
        except _OpError as error:
            raise UserError(f"op {index} ({name}): {error}") from None
    return Graph(tensors, ops, graph.inputs[0], graph.outputs[0])


def _tensor(index: int, t, model) -> Tensor:
    quant = t.quantization
    scales = np.asarray(quant.scale if quant is not None and quant.scale is not None else [])
    zps = np.asarray(quant.zeroPoint if quant is not None and quant.zeroPoint is not None else [])
    dtype = NUMPY_TYPES.get(t.type)
    data = None
    buffer = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
    if buffer is not None and buffer.data is not None and len(buffer.data) and dtype is not None:
        data = np.frombuffer(np.asarray(buffer.data, dtype=np.uint8).tobytes(), dtype=dtype)
        data = data.reshape([int(d) for d in t.shape]) if t.shape is not None else data
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    return Tensor(index, name, shape, TYPE_NAMES.get(t.type, str(t.type)), dtype, scales, zps, data)


# ---------------------------------------------------------------- checks


def _activation(op, tensors: list[Tensor], index: int) -> Tensor:
    if index < 0:
        raise _OpError("a missing activation input")
    tensor = tensors[index]
    if tensor.data is not None:
        raise _OpError(f"constant input {tensor.name!r} where an activation is expected")
    if tensor.type_name not in ("INT8", "INT16"):
        raise _OpError(f"tensor {tensor.name!r} is {tensor.type_name}; only int8 and int16 run")
    if len(tensor.scales) != 1:
        raise _OpError(f"tensor {tensor.name!r} needs per-tensor quantization")
    return tensor


def _same_type(inp: Tensor, out: Tensor) -> None:
    if inp.type_name != out.type_name:
        raise _OpError(f"input is {inp.type_name} but output is {out.type_name}")


def _fused(options) -> int:
    activation = options.fusedActivationFunction
    if activation not in (0, 1, 2, 3):
        raise _OpError(
            f"fused activation {ACTIVATION_NAMES.get(activation, activation)} is not supported"
        )
    return activation


def _range(activation: int, out: Tensor) -> dict[str, int]:
    lo, hi = q.activation_range(activation, out.scale, out.zero_point, out.bits)
    return {"act_min": lo, "act_max": hi}


def _zero_int16(*tensors: Tensor) -> None:
    for tensor in tensors:
        if tensor.type_name == "INT16" and tensor.zero_point != 0:
            raise _OpError(
                f"int16 tensor {tensor.name!r} has zero point {tensor.zero_point}, not 0"
            )


def _batch_one(tensor: Tensor) -> None:
    if len(tensor.shape) != 4 or tensor.shape[0] != 1:
        raise _OpError(f"needs a 4-D input with batch 1, got shape {list(tensor.shape)}")


def _weights(tensors: list[Tensor], index: int) -> Tensor:
    if index < 0 or tensors[index].data is None:
        raise _OpError("weights must be constant")
    weights = tensors[index]
    if weights.type_name != "INT8":
        raise _OpError(f"weights are {weights.type_name}; only int8 weights are supported")
    if np.any(weights.zero_points != 0):
        raise _OpError("weights must be symmetric (zero point 0)")
    return weights


def _bias(tensors: list[Tensor], index: int, inp: Tensor, channels: int) -> np.ndarray:
    want = "INT64" if inp.type_name == "INT16" else "INT32"
    if index < 0:
        return np.zeros(channels, dtype=np.int64 if want == "INT64" else np.int32)
    bias = tensors[index]
    if bias.data is None:
        raise _OpError("bias must be constant")
    if bias.type_name != want:
        raise _OpError(f"{inp.type_name} inputs need a {want} bias, got {bias.type_name}")
    if bias.size != channels:
        raise _OpError(f"bias has {bias.size} values for {channels} channels")
    return bias.data.reshape(-1)


def _padding(padding: int, stride: int, dilation: int, size: int, k: int, out: int) -> int:
    """TFLite's output size check and leading padding (ComputePaddingHeightWidth)."""
    effective = (k - 1) * dilation + 1
    if padding == schema.Padding.SAME:
        expected = (size + stride - 1) // stride
    elif padding == schema.Padding.VALID:
        expected = (size + stride - effective) // stride
    else:
        raise _OpError(f"padding mode {padding} is not supported")
    if expected != out:
        raise _OpError(f"output size {out} does not match the computed size {expected}")
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2


# ---------------------------------------------------------------- ops


def _conv(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    o = op.builtinOptions
    inp = _activation(op, tensors, op.inputs[0])
    out = _activation(op, tensors, op.outputs[0])
    _same_type(inp, out)
    _zero_int16(inp, out)
    _batch_one(inp)
    _batch_one(out)
    weights = _weights(tensors, op.inputs[1])
    depthwise = name == "DEPTHWISE_CONV_2D"
    if len(weights.shape) != 4:
        raise _OpError(f"weights have shape {list(weights.shape)}, expected 4-D")
    _, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    if depthwise:
        _, k_h, k_w, w_c = weights.shape
        if w_c != out_c or out_c % in_c:
            raise _OpError(f"weights {list(weights.shape)} do not fit {in_c} -> {out_c} channels")
        multiplier = out_c // in_c
    else:
        w_c, k_h, k_w, w_in = weights.shape
        if w_c != out_c or w_in != in_c:
            raise _OpError(f"weights {list(weights.shape)} do not fit {in_c} -> {out_c} channels")
        multiplier = 1
    if len(weights.scales) not in (1, out_c):
        raise _OpError(f"{len(weights.scales)} weight scales for {out_c} channels")
    activation = _fused(o)
    pad_h = _padding(o.padding, o.strideH, o.dilationHFactor, in_h, k_h, out_h)
    pad_w = _padding(o.padding, o.strideW, o.dilationWFactor, in_w, k_w, out_w)
    bias = _bias(tensors, op.inputs[2] if len(op.inputs) > 2 else -1, inp, out_c)
    mults, shifts = q.conv_multipliers(inp.scale, weights.scales, out.scale, out_c)
    params = {
        "in_h": in_h,
        "in_w": in_w,
        "in_c": in_c,
        "out_h": out_h,
        "out_w": out_w,
        "out_c": out_c,
        "k_h": k_h,
        "k_w": k_w,
        "stride_h": o.strideH,
        "stride_w": o.strideW,
        "dil_h": o.dilationHFactor,
        "dil_w": o.dilationWFactor,
        "pad_h": pad_h,
        "pad_w": pad_w,
        "depth_multiplier": multiplier,
        "input_offset": -inp.zero_point if inp.bits == 8 else 0,
        "output_offset": out.zero_point if out.bits == 8 else 0,
        **_range(activation, out),
    }
    arrays = {
        "filter": weights.data.astype(np.int8),
        "multiplier": np.asarray(mults, dtype=np.int32),
        "shift": np.asarray(shifts, dtype=np.int32),
    }
    if inp.bits == 8:
        w = weights.data.astype(np.int64)
        sums = w.sum(axis=(0, 1, 2)) if depthwise else w.reshape(out_c, -1).sum(axis=1)
        arrays["bias32"] = bias.astype(np.int32)
        arrays["bias_folded"] = _wrap32(bias.astype(np.int64) + params["input_offset"] * sums)
    else:
        arrays["bias64"] = bias.astype(np.int64)
    kernel = ("DepthwiseConv" if depthwise else "Conv") + ("S8" if inp.bits == 8 else "S16")
    return Op(index, name, kernel, "ConvParams", [inp.index], out.index, params, arrays)


def _wrap32(values: np.ndarray) -> np.ndarray:
    """int32 two's complement wrap-around (the kernels' accumulators wrap the same way)."""
    return ((values.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def _fully_connected(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    o = op.builtinOptions
    inp = _activation(op, tensors, op.inputs[0])
    out = _activation(op, tensors, op.outputs[0])
    _same_type(inp, out)
    _zero_int16(inp, out)
    weights = _weights(tensors, op.inputs[1])
    if o.weightsFormat != 0:
        raise _OpError("only the default weights format is supported")
    if getattr(o, "asymmetricQuantizeInputs", False):
        raise _OpError("hybrid (asymmetric input) fully connected is not supported")
    if len(weights.shape) != 2:
        raise _OpError(f"weights have shape {list(weights.shape)}, expected 2-D")
    units, depth = weights.shape
    if inp.size % depth or out.size != (inp.size // depth) * units:
        raise _OpError(f"input {list(inp.shape)} and output {list(out.shape)} do not fit weights")
    activation = _fused(o)
    bias = _bias(tensors, op.inputs[2] if len(op.inputs) > 2 else -1, inp, units)
    if len(weights.scales) == 1:
        m, s = q.fc_multiplier(inp.scale, weights.scales[0], out.scale)
        mults, shifts = [m] * units, [s] * units
    elif len(weights.scales) == units:
        mults, shifts = q.conv_multipliers(inp.scale, weights.scales, out.scale, units)
    else:
        raise _OpError(f"{len(weights.scales)} weight scales for {units} units ({inp.type_name})")
    params = {
        "rows": inp.size // depth,
        "depth": depth,
        "units": units,
        "output_offset": out.zero_point if out.bits == 8 else 0,
        **_range(activation, out),
    }
    arrays = {
        "filter": weights.data.astype(np.int8),
        "multiplier": np.asarray(mults, dtype=np.int32),
        "shift": np.asarray(shifts, dtype=np.int32),
    }
    if inp.bits == 8:
        sums = weights.data.astype(np.int64).sum(axis=1)
        arrays["bias_folded"] = _wrap32(bias.astype(np.int64) - inp.zero_point * sums)
    else:
        arrays["bias64"] = bias.astype(np.int64)
    kernel = "FullyConnected" + ("S8" if inp.bits == 8 else "S16")
    return Op(index, name, kernel, "FullyConnectedParams", [inp.index], out.index, params, arrays)


def _add(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    a = _activation(op, tensors, op.inputs[0])
    b = _activation(op, tensors, op.inputs[1])
    out = _activation(op, tensors, op.outputs[0])
    _same_type(a, out)
    _same_type(b, out)
    if a.shape != b.shape or a.shape != out.shape:
        raise _OpError(
            f"broadcasting is not supported (shapes {list(a.shape)} and {list(b.shape)})"
        )
    activation = _fused(op.builtinOptions)
    params = {
        "size": out.size,
        "input1_offset": -a.zero_point,
        "input2_offset": -b.zero_point,
        "output_offset": out.zero_point,
        **q.add_params(a.scale, b.scale, out.scale, out.bits),
        **_range(activation, out),
    }
    kernel = "Add" + ("S8" if out.bits == 8 else "S16")
    return Op(index, name, kernel, "AddParams", [a.index, b.index], out.index, params)


def _pool(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    o = op.builtinOptions
    inp = _activation(op, tensors, op.inputs[0])
    out = _activation(op, tensors, op.outputs[0])
    _same_type(inp, out)
    _batch_one(inp)
    _batch_one(out)
    _, in_h, in_w, channels = inp.shape
    _, out_h, out_w, out_c = out.shape
    if out_c != channels:
        raise _OpError(f"{channels} input channels but {out_c} output channels")
    activation = _fused(o)
    params = {
        "in_h": in_h,
        "in_w": in_w,
        "channels": channels,
        "out_h": out_h,
        "out_w": out_w,
        "k_h": o.filterHeight,
        "k_w": o.filterWidth,
        "stride_h": o.strideH,
        "stride_w": o.strideW,
        "pad_h": _padding(o.padding, o.strideH, 1, in_h, o.filterHeight, out_h),
        "pad_w": _padding(o.padding, o.strideW, 1, in_w, o.filterWidth, out_w),
        **_range(activation, out),
    }
    kernel = ("AveragePool" if name == "AVERAGE_POOL_2D" else "MaxPool") + (
        "S8" if out.bits == 8 else "S16"
    )
    return Op(index, name, kernel, "PoolParams", [inp.index], out.index, params)


def _reshape(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    inp = _activation(op, tensors, op.inputs[0])
    out = _activation(op, tensors, op.outputs[0])
    _same_type(inp, out)
    if inp.size != out.size:
        raise _OpError(f"{inp.size} values cannot become {out.size}")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise _OpError("input and output quantization differ")
    params = {"bytes": out.nbytes}
    return Op(index, name, "Copy", None, [inp.index], out.index, params, alias=True)


def _softmax(index: int, name: str, op, tensors: list[Tensor]) -> Op:
    inp = _activation(op, tensors, op.inputs[0])
    out = _activation(op, tensors, op.outputs[0])
    beta = op.builtinOptions.beta
    depth = inp.shape[-1] if inp.shape else 1
    if inp.size != out.size:
        raise _OpError("input and output sizes differ")
    params = {"rows": inp.size // depth, "depth": depth}
    arrays: dict[str, np.ndarray] = {}
    if inp.bits == 8:
        if out.bits == 8 and (out.zero_point != -128 or out.scale != 1.0 / 256):
            raise _OpError("int8 output needs scale 1/256 and zero point -128")
        if out.bits == 16 and (
            out.zero_point != -32768 or not math.isclose(out.scale, 1 / 65536, rel_tol=1e-3)
        ):
            raise _OpError("int16 output of an int8 softmax needs scale 1/65536, zero point -32768")
        m, shift, diff_min = q.softmax_s8_params(beta, inp.scale)
        params.update(input_multiplier=m, input_left_shift=shift, diff_min=diff_min)
        kernel = "SoftmaxS8" if out.bits == 8 else "SoftmaxS8S16"
    else:
        _same_type(inp, out)
        if out.zero_point != 0 or not math.isclose(out.scale, 1 / 32768, rel_tol=1e-3):
            raise _OpError("int16 output needs scale 1/32768 and zero point 0")
        m, shift = q.softmax_s16_params(beta, inp.scale)
        params.update(input_multiplier=m, input_left_shift=shift, diff_min=0)
        exp_lut, recip_lut = q.softmax_s16_luts()
        arrays = {
            "exp_lut": np.asarray(exp_lut, dtype=np.int16),
            "recip_lut": np.asarray(recip_lut, dtype=np.int16),
        }
        kernel = "SoftmaxS16"
    return Op(index, name, kernel, "SoftmaxParams", [inp.index], out.index, params, arrays)


_PREPARE = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "FULLY_CONNECTED": _fully_connected,
    "ADD": _add,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "RESHAPE": _reshape,
    "SOFTMAX": _softmax,
}
