"""A differentiable replica of an int8 or int16 .tflite model, built from the file alone.

``replica_logits_model`` turns the file's graph into a Keras model on the same [0,1] NHWC images
``Backend.run`` takes. The input is fake-quantized exactly as ``host.backends.base.quantize_input``
does (pixels * input_range, the input tensor's scale and zero point, or those of the first
QUANTIZE of a float-input model; round half away from zero, clip). Every op computes in float64
on dequantized weights (per-channel scales) and biases (integers * input scale * weight scale),
and its output is fake-quantized onto the output tensor's own grid (scale, zero point), clipped
to the type's range narrowed by the fused RELU/RELU6 as TFLite Micro clips.

The forward value of each output is TFLite Micro's integer: CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, ADD and integer QUANTIZE round with its fixed-point multipliers (double rounding
and all), AVERAGE_POOL_2D with its integer average; MEAN rounds the float mean (close, not
exact). Gradients are straight-through: the rounding passes the float op's gradient unchanged,
the clip passes none outside its range (like a ReLU). The output is float32 logits: the
dequantized input of the first SOFTMAX (the model's dequantized output when it has none).

``replica_fidelity`` compares the replica with a real integer backend: top-1 agreement and the
share of examples whose logits are all within one output step of the real pre-softmax integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.backends import Backend, host_backend_for_bytes
from host.compiler import quant
from host.compiler.ops.common import padding
from host.errors import UserError
from host.tflite import (
    Tensor,
    check_model_bytes,
    input_quantization,
    op_name,
    read_model_bytes,
    read_tensors,
    truncate_after,
)

SUPPORTED = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEQUANTIZE",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "MEAN",
    "PAD",
    "QUANTIZE",
    "RESHAPE",
    "SOFTMAX",
)
INTEGER_TYPES = {"INT8": 8, "INT16": 16}


def _round_away(v: Any) -> Any:
    """Round half away from zero (TFLite's rounding), as a TensorFlow op."""
    import tensorflow as tf

    return tf.sign(v) * tf.floor(tf.abs(v) + 0.5)


def _integers(x: Any, tensor: Tensor) -> Any:
    """Real values on ``tensor``'s grid -> q - zero point, as float64 (gradient: x / scale)."""
    return x / float(np.float32(tensor.scale))


def _to_int(v: Any) -> Any:
    import tensorflow as tf

    return tf.cast(tf.round(v), tf.int64)


def _multiply(x: Any, multiplier: np.ndarray | int, shift: np.ndarray | int) -> Any:
    """TFLite's MultiplyByQuantizedMultiplier on int32 values held in int64 (per channel on the
    last axis): a rounding doubling high multiply, then a rounding right shift."""
    import tensorflow as tf

    m = np.asarray(multiplier, np.int64)
    s = np.asarray(shift, np.int64)
    ab = x * np.left_shift(np.int64(1), np.maximum(s, 0)) * m
    nudge = tf.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    high = tf.truncatediv(ab + nudge, np.int64(1 << 31))
    right = np.maximum(-s, 0)
    mask = np.left_shift(np.int64(1), right) - 1
    remainder = tf.bitwise.bitwise_and(high, mask)
    threshold = (mask >> 1) + tf.cast(high < 0, tf.int64)
    return tf.bitwise.right_shift(high, right) + tf.cast(remainder > threshold, tf.int64)


def _multiply64(x: Any, multiplier: np.ndarray, shift: np.ndarray) -> Any:
    """The int64-accumulator variant (int16x8 kernels): a 16-bit multiplier, one rounding."""
    import tensorflow as tf

    m = np.asarray(multiplier, np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    return tf.bitwise.right_shift(x * reduced + np.left_shift(np.int64(1), total - 1), total)


def _output(y: Any, q: Any | None, tensor: Tensor, activation: int = 0) -> Any:
    """The op's output: forward value the integer ``q`` (``y`` rounded when None) clipped to
    the type's range narrowed by the fused ``activation``, dequantized; gradient that of ``y``
    inside the range, none outside. A float tensor passes ``y`` unchanged."""
    import tensorflow as tf

    if tensor.type_name not in INTEGER_TYPES:
        return y
    scale, zero_point = float(np.float32(tensor.scale)), tensor.zero_point
    lo, hi = quant.activation_range(activation, tensor.scale, zero_point, tensor.bits)
    if q is None:
        q = _round_away(y / scale) + zero_point
    else:
        q = tf.cast(q + zero_point, tf.float64)
    q = tf.clip_by_value(q, lo, hi)
    clipped = tf.clip_by_value(y, (lo - zero_point) * scale, (hi - zero_point) * scale)
    return clipped + tf.stop_gradient((q - zero_point) * scale - clipped)


def _activation(op: schema.OperatorT) -> int:
    code = int(getattr(op.builtinOptions, "fusedActivationFunction", 0) or 0)
    if code not in (0, 1, 2, 3):
        raise UserError(f"fused activation {code} is not supported by the replica")
    return code


def _constant(tensor: Tensor) -> np.ndarray:
    if tensor.data is None:
        raise UserError(f"tensor {tensor.name!r} must be a constant for the replica")
    return np.asarray(tensor.data)


def _padding(op: schema.OperatorT) -> str:
    return "SAME" if op.builtinOptions.padding == schema.Padding.SAME else "VALID"


def _accumulate(op: schema.OperatorT, tensors: list[Tensor], x: Any, name: str) -> Any:
    """The accumulator of a convolution or fully connected op: sum((q - zp) * w) + bias, exact
    integers in float64 (differentiable in x)."""
    import tensorflow as tf

    inp, weights = tensors[op.inputs[0]], tensors[op.inputs[1]]
    w = _constant(weights).astype(np.float64)
    t = _integers(x, inp)
    if _fits_float32(inp, w, 0 if name == "FULLY_CONNECTED" else 3):
        w, t = w.astype(np.float32), tf.cast(t, tf.float32)  # exact, and several times faster
    if name == "FULLY_CONNECTED":  # w: [units, depth]
        acc = tf.matmul(tf.reshape(t, (-1, w.shape[1])), w, transpose_b=True)
    else:
        o = op.builtinOptions
        strides = (1, o.strideH, o.strideW, 1)
        dilations = (o.dilationHFactor, o.dilationWFactor)
        if name == "DEPTHWISE_CONV_2D":  # w: [1, kh, kw, in * multiplier]
            kernel = w.reshape(w.shape[1], w.shape[2], int(t.shape[-1]), -1)
            acc = tf.nn.depthwise_conv2d(t, kernel, strides, _padding(op), dilations=dilations)
        else:  # w: [out, kh, kw, in]
            kernel = np.transpose(w, (1, 2, 3, 0))
            acc = tf.nn.conv2d(t, kernel, strides, _padding(op), dilations=dilations)
    acc = tf.cast(acc, tf.float64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        acc = acc + _constant(tensors[op.inputs[2]]).astype(np.float64).reshape(-1)
    return acc


def _fits_float32(inp: Tensor, w: np.ndarray, channel_axis: int) -> bool:
    """Whether every partial sum of (q - zp) * w is below 2^24 in magnitude, so that float32
    accumulates it exactly (whatever the order): int8 layers mostly, int16 layers never."""
    info = np.iinfo(np.int8 if inp.bits == 8 else np.int16)
    largest = max(info.max - inp.zero_point, inp.zero_point - info.min)
    per_channel = np.abs(np.moveaxis(w, channel_axis, 0)).reshape(w.shape[channel_axis], -1)
    return largest * float(per_channel.sum(axis=1).max()) < 2**24


def _weighted(op: schema.OperatorT, tensors: list[Tensor], x: Any, name: str) -> tuple[Any, Any]:
    """A convolution or fully connected op: its float output and TFLite Micro's integer."""
    inp, weights, out = (tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    acc = _accumulate(op, tensors, x, name)
    channels = int(acc.shape[-1])
    scales = np.resize(weights.scales.astype(np.float32), channels).astype(np.float64)
    y = acc * (float(np.float32(inp.scale)) * scales)
    if name == "FULLY_CONNECTED" and len(weights.scales) == 1:
        m, s = quant.fc_multiplier(inp.scale, weights.scales[0], out.scale)
        multipliers, shifts = np.full(channels, m), np.full(channels, s)
    else:
        pairs = quant.conv_multipliers(inp.scale, weights.scales, out.scale, channels)
        multipliers, shifts = np.asarray(pairs[0]), np.asarray(pairs[1])
    scale = _multiply if inp.bits == 8 else _multiply64
    return y, scale(_to_int(acc), multipliers, shifts)


def _add(op: schema.OperatorT, tensors: list[Tensor], a: Any, b: Any) -> tuple[Any, Any]:
    """ADD: both inputs rescaled to twice the larger scale (left shift 20, or 15 for int16)."""
    first, second, out = (tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    p = quant.add_params(first.scale, second.scale, out.scale, out.bits)
    left = np.int64(1 << p["left_shift"])
    terms = [
        _multiply(_to_int(_integers(x, t)) * left, p[f"{k}_multiplier"], p[f"{k}_shift"])
        for x, t, k in ((a, first, "input1"), (b, second, "input2"))
    ]
    return a + b, _multiply(terms[0] + terms[1], p["output_multiplier"], p["output_shift"])


def _average_pool(op: schema.OperatorT, tensors: list[Tensor], x: Any) -> tuple[Any, Any]:
    """AVERAGE_POOL_2D: the float mean, and the integer sum of the valid taps' raw values
    divided by their count, rounded half away from zero."""
    import tensorflow as tf

    o = op.builtinOptions
    inp, out = tensors[op.inputs[0]], tensors[op.outputs[0]]
    _, in_h, in_w, _ = inp.shape
    _, out_h, out_w, _ = out.shape
    y = tf.nn.avg_pool2d(x, (o.filterHeight, o.filterWidth), (o.strideH, o.strideW), _padding(op))
    rows = _taps(o.padding, o.strideH, in_h, o.filterHeight, out_h)
    cols = _taps(o.padding, o.strideW, in_w, o.filterWidth, out_w)
    count = np.outer(rows, cols)[None, :, :, None].astype(np.int64)
    total = _to_int(_integers(y, inp) * count.astype(np.float64)) + inp.zero_point * count
    half = count // 2
    average = tf.where(
        total > 0, tf.truncatediv(total + half, count), tf.truncatediv(total - half, count)
    )
    return y, average - out.zero_point


def _taps(mode: int, stride: int, size: int, k: int, out: int) -> np.ndarray:
    """How many of a pooling window's taps fall inside the input, per output row (or column)."""
    start = np.arange(out) * stride - padding(mode, stride, 1, size, k, out)
    return np.minimum(start + k, size) - np.maximum(start, 0)


def _op(
    name: str, op: schema.OperatorT, tensors: list[Tensor], values: dict[int, Any]
) -> tuple[Any, Any | None]:
    """One op: its float output and, where the replica computes it, TFLite Micro's integer
    (q - output zero point, int64); None where rounding the float output gives it."""
    import tensorflow as tf

    x = values[int(op.inputs[0])]
    inp, out = tensors[int(op.inputs[0])], tensors[int(op.outputs[0])]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        y, q = _weighted(op, tensors, x, name)
        return tf.reshape(y, (-1, *out.shape[1:])), tf.reshape(q, (-1, *out.shape[1:]))
    if name == "ADD":
        return _add(op, tensors, x, values[int(op.inputs[1])])
    if name == "AVERAGE_POOL_2D":
        return _average_pool(op, tensors, x)
    if name == "MAX_POOL_2D":
        o = op.builtinOptions
        window, strides = (o.filterHeight, o.filterWidth), (o.strideH, o.strideW)
        return tf.nn.max_pool2d(x, window, strides, _padding(op)), None
    if name == "RESHAPE":
        return tf.reshape(x, (-1, *out.shape[1:])), None
    if name == "PAD":  # pads with the zero point: real 0
        return tf.pad(x, _constant(tensors[op.inputs[1]]).astype(np.int64)), None
    if name == "MEAN":
        axes = [int(a) for a in _constant(tensors[op.inputs[1]]).reshape(-1)]
        keep = bool(getattr(op.builtinOptions, "keepDims", False))
        return tf.reduce_mean(x, axis=axes, keepdims=keep), None
    if name == "QUANTIZE" and inp.type_name in INTEGER_TYPES and out.type_name in INTEGER_TYPES:
        real = float(np.float32(inp.scale)) / float(np.float32(out.scale))
        m, s = quant.quantize_multiplier(real)
        return x, _multiply(_to_int(_integers(x, inp)), np.asarray(m), np.asarray(s))
    return x, None  # DEQUANTIZE; QUANTIZE from float (the model input, done already)


@dataclass
class _Plan:
    """What the replica computes, read from the file once."""

    tensors: list[Tensor]
    ops: list[tuple[int, str, schema.OperatorT]]  # (index in the file, name, op) before SOFTMAX
    input: int  # the tensor holding the fake-quantized input
    input_tensor: Tensor  # whose scale and zero point quantize the input
    input_shape: tuple[int, ...]  # the model input's shape, without the batch
    logits: int  # the tensor whose real values are the logits
    skip: int | None  # file index of a float-input model's first QUANTIZE, done already


def _plan(path: str | Path) -> _Plan:
    content = read_model_bytes(path)
    model = check_model_bytes(content, str(path))
    graph = model.subgraphs[0]
    tensors = read_tensors(model)
    ops: list[tuple[int, str, schema.OperatorT]] = []
    logits = int(graph.outputs[0])
    for index, op in enumerate(graph.operators):
        name = op_name(model, op)
        if name not in SUPPORTED:
            raise UserError(
                f"{path}: op {index} ({name}) is not supported by the replica "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        if name == "SOFTMAX":
            logits = int(op.inputs[0])
            break
        _activation(op)
        ops.append((index, name, op))
    first = int(graph.inputs[0])
    input_shape = tensors[first].shape[1:]
    input_tensor, skip = tensors[first], None
    if input_tensor.type_name == "FLOAT32":
        _, scale, zero_point = input_quantization(content)
        readers = [i for i, n, op in ops if n == "QUANTIZE" and first in op.inputs]
        if not readers:
            raise UserError(f"{path}: a float input must be read by a QUANTIZE op")
        skip = readers[0]
        input_tensor = tensors[int(graph.operators[skip].outputs[0])]
        first = input_tensor.index
    if input_tensor.type_name not in INTEGER_TYPES:
        raise UserError(
            f"{path}: the replica needs an int8 or int16 model, its input is "
            f"{input_tensor.type_name}"
        )
    return _Plan(tensors, ops, first, input_tensor, input_shape, logits, skip)


class _Replica:
    """The replica's forward pass as a function of TensorFlow tensors."""

    def __init__(self, plan: _Plan, input_range: float) -> None:
        self.plan = plan
        self.input_range = np.float32(input_range)

    def __call__(self, x01: Any) -> Any:
        import tensorflow as tf

        return tf.cast(self.logits64(x01), tf.float32)

    def logits64(self, x01: Any) -> Any:
        """The logits in float64 (exact multiples of the logits tensor's scale)."""
        import tensorflow as tf

        plan = self.plan
        values = {plan.input: self.quantized_input(x01)}
        for index, name, op in plan.ops:
            if index == plan.skip:
                continue
            out = plan.tensors[int(op.outputs[0])]
            y, q = _op(name, op, plan.tensors, values)
            values[out.index] = _output(y, q, out, _activation(op))
        size = int(np.prod(plan.tensors[plan.logits].shape[1:]))
        return tf.reshape(values[plan.logits], (-1, size))

    def on_lattice(self, x01: Any) -> Any:
        """The input as the model reads it, in [0,1] units (float32)."""
        import tensorflow as tf

        return tf.cast(self.quantized_input(x01) / float(self.input_range), tf.float32)

    def quantized_input(self, x01: Any) -> Any:
        """The input as ``quantize_input`` quantizes it (float32 arithmetic), dequantized to
        float64; straight-through gradient inside the type's range."""
        import tensorflow as tf

        t = self.plan.input_tensor
        scale = np.float32(t.scale)
        v = tf.cast(x01, tf.float32) * self.input_range
        info = np.iinfo(np.int8 if t.bits == 8 else np.int16)
        q = tf.clip_by_value(_round_away(v / scale) + t.zero_point, info.min, info.max)
        real = tf.cast(q - t.zero_point, tf.float64) * float(scale)
        lo, hi = (info.min - t.zero_point) * float(scale), (info.max - t.zero_point) * float(scale)
        clipped = tf.clip_by_value(tf.cast(v, tf.float64), lo, hi)
        return clipped + tf.stop_gradient(real - clipped)


def input_on_lattice(path: str | Path, input_range: float = 1.0) -> Callable[[Any], Any]:
    """A TensorFlow function of [0,1] images: what the model of ``path`` reads, back in [0,1]
    units (its input lattice, as ``host.attacks.threat.to_lattice`` maps a batch)."""
    return _Replica(_plan(path), input_range).on_lattice


def replica_logits_model(path: str | Path, input_range: float = 1.0):
    """The replica of an int8 or int16 .tflite file as a Keras model: input "x01" (the [0,1]
    NHWC images ``Backend.run`` takes; ``input_range`` is the zoo entry's, applied inside),
    output the float32 logits (see the module docstring)."""
    import keras

    plan = _plan(path)
    replica = _Replica(plan, input_range)

    class Replica(keras.layers.Layer):
        def call(self, x):
            return replica(x)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], int(np.prod(plan.tensors[plan.logits].shape[1:])))

    inputs = keras.Input(shape=plan.input_shape, name="x01")
    return keras.Model(inputs, Replica(name="replica")(inputs), name="replica_logits")


@dataclass(frozen=True)
class Fidelity:
    """How closely the replica follows a real integer backend on some images."""

    n: int
    top1_agreement: float  # share of examples with the same top-1 class
    within_one_step: float  # share of examples whose every logit is within one output step
    exact: float  # share of examples whose every logit equals the real integer's
    max_steps: float  # the largest logit difference, in output steps


def replica_fidelity(
    path: str | Path,
    x01: np.ndarray,
    backend: Backend,
    input_range: float = 1.0,
    runtime: str = "tflm",
) -> Fidelity:
    """Compare the replica of ``path`` with ``backend`` (top-1) and, for the logits, with the
    model cut before its SOFTMAX run on ``runtime`` (the tflite-micro wheel by default)."""
    plan = _plan(path)
    replica = _Replica(plan, input_range)
    x01 = np.asarray(x01, dtype=np.float32)
    batches = [replica.logits64(x01[i : i + 128]).numpy() for i in range(0, len(x01), 128)]
    ours = np.concatenate(batches)
    real = backend.dequantize_output(backend.run(x01)).reshape(len(x01), -1)
    top1 = float(np.mean(ours.argmax(1) == real.argmax(1)))
    content = read_model_bytes(path)
    writer = max(index for index, _, op in plan.ops if int(op.outputs[0]) == plan.logits)
    cut = host_backend_for_bytes(runtime)(
        truncate_after(content, writer), backend.precision, input_range
    )
    integers = cut.run(x01).reshape(len(x01), -1).astype(np.float64)
    logits = plan.tensors[plan.logits]
    scale = float(np.float32(logits.scale)) if logits.type_name in INTEGER_TYPES else 1.0
    steps = np.abs(ours / scale + logits.zero_point - integers)
    within = float(np.mean(steps.max(1) <= 1.0 + 1e-3))
    exact = float(np.mean(steps.max(1) <= 1e-3))
    return Fidelity(len(x01), top1, within, exact, float(steps.max()))
