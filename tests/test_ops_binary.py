"""ADD, SUB, MUL, MAXIMUM, MINIMUM and SQUARED_DIFFERENCE with broadcasting in the engine are
byte-exact with TFLite Micro.

One tiny Keras model holds every case (int8 and int16, cached under build/engine-tests/): each
input side broadcast (``[1,1,1,C]`` against ``[1,H,W,C]``), a constant vector and a constant
scalar on either side, fused RELU/RELU6, same-shape inputs (ADD's own kernel), different scales
and zero points. The converted model is checked to hold each case, then 300+ real CIFAR-10
inputs plus 300 random inputs give TFLite Micro's raw outputs on the portable engine and the
default ISA, and the engine's arena is no larger than TFLite Micro's.
"""

from __future__ import annotations

import engine_reference as ref
import numpy as np
import pytest

from host.compiler import broadcast
from host.compiler.ops import OpError
from host.tflite import check_model_bytes, op_name, read_tensors

OPS = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE")


def _binary_model():
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(8)
    lam = layers.Lambda
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    y = layers.Conv2D(8, 1, activation="relu6")(x)
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(y)  # [1, 1, 1, 8]
    peak = layers.MaxPooling2D(15)(x)  # [1, 1, 1, 8], quantized like x
    vector = np.linspace(-1, 1, 8).astype("float32")
    a = lam(lambda t: t[0] + t[1])([x, pooled])
    b = layers.ReLU()(lam(lambda t: t[0] + t[1])([pooled, y]))
    c = lam(lambda t: t + 0.5)(a)
    d = lam(lambda t: t + vector)(b)
    s1 = lam(lambda t: t[0] - t[1])([c, pooled])
    s2 = lam(lambda t: t[0] - t[1])([pooled, d])
    s3 = lam(lambda t: 1.0 - t)(s1)
    m1 = layers.ReLU()(lam(lambda t: t[0] * t[1])([s2, pooled]))
    m2 = lam(lambda t: t * 0.75)(s3)
    m3 = lam(lambda t: t * (vector + 1.5))(m1)
    high = lam(lambda t: keras.ops.maximum(t[0], t[1]))([peak, x])
    rows = layers.MaxPooling2D((1, 15))(x)  # [1, 15, 1, 8]
    cols = layers.MaxPooling2D((15, 1))(y)  # [1, 1, 15, 8]
    grid = lam(lambda t: t[0] * t[1] + t[0] * t[0])([rows, cols])  # both sides broadcast
    high = lam(lambda t: t[0] + t[1] - t[1] * t[1])([high, grid])
    low = lam(lambda t: keras.ops.minimum(t, 0.25))(m3)
    squares = lam(lambda t: tf.math.squared_difference(t[0], t[1]))([y, pooled])
    square = lam(lambda t: tf.math.squared_difference(t, 0.3))(low)
    z = lam(lambda t: t[0] + t[1] + t[2] + t[3])([m2, low, squares, square])
    z = layers.ReLU(6.0)(layers.Multiply()([z, high]))
    z = layers.Subtract()([z, y])
    z = layers.Conv2D(4, 3, strides=2)(z)
    return keras.Model(inputs, layers.Flatten()(z))


MODELS: ref.OpModels = {"binary": (_binary_model, OPS, ("int8", "int16"))}
model = ref.op_model_fixture(MODELS)


def _cases(content: bytes) -> set[tuple[str, str]]:
    """(op, case) for each binary op of the model: which input is broadcast or constant, and
    its fused activation."""
    model = check_model_bytes(content)
    tensors = read_tensors(model)
    cases = set()
    for op in model.subgraphs[0].operators:
        name = op_name(model, op)
        if name not in OPS:
            continue
        a, b, out = (tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
        for side, tensor in (("input1", a), ("input2", b)):
            if tensor.data is not None:
                cases.add((name, f"{side} constant {'scalar' if tensor.size == 1 else 'vector'}"))
            elif tensor.shape != out.shape:
                cases.add((name, f"{side} broadcast"))
        if a.data is None and b.data is None and a.shape == b.shape == out.shape:
            cases.add((name, "same tensor" if op.inputs[0] == op.inputs[1] else "same shape"))
        if a.data is None and b.data is None and out.shape not in (a.shape, b.shape):
            cases.add((name, "both broadcast"))
        fused = getattr(op.builtinOptions, "fusedActivationFunction", 0)
        if fused:
            cases.add((name, f"fused {fused}"))
    return cases


def test_model_holds_every_case(model: ref.Variant) -> None:
    cases = _cases(model.path.read_bytes())
    expected = {
        ("ADD", "input1 broadcast"),
        ("ADD", "input2 broadcast"),
        ("ADD", "input2 constant scalar"),
        ("ADD", "input2 constant vector"),
        ("ADD", "same shape"),
        ("ADD", "fused 1"),  # RELU
        ("SUB", "input1 broadcast"),
        ("SUB", "input2 broadcast"),
        ("SUB", "input1 constant scalar"),
        ("SUB", "same shape"),
        ("MUL", "input2 broadcast"),
        ("MUL", "input2 constant scalar"),
        ("MUL", "input2 constant vector"),
        ("MUL", "same shape"),
        ("MUL", "same tensor"),
        ("MUL", "both broadcast"),
        ("MUL", "fused 1"),
        ("MUL", "fused 3"),  # RELU6
        ("MAXIMUM", "input1 broadcast"),
        ("MINIMUM", "input2 constant scalar"),
        ("SQUARED_DIFFERENCE", "input2 broadcast"),
        ("SQUARED_DIFFERENCE", "input2 constant scalar"),
    }
    assert expected <= cases, sorted(expected - cases)


@ref.EACH_ISA
def test_binary_ops_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


@pytest.mark.parametrize(
    "a, b",
    [
        ((1, 15, 15, 8), (1, 1, 1, 8)),
        ((1, 1, 1, 8), (1, 15, 15, 8)),
        ((1, 15, 1, 8), (1, 1, 15, 8)),
        ((15, 15, 8), (8,)),
        ((), (2, 3)),
        ((2, 1, 3, 1, 4), (1, 5, 1, 1, 4)),
        ((2, 3, 4), (2, 3, 4)),
        ((1, 1), (1,)),
    ],
)
def test_broadcast_loops_index_like_numpy(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """The merged loops and strides of broadcast.h read the elements numpy broadcasting pairs."""
    out = np.broadcast_shapes(a, b)
    fields = broadcast.loops(a, b, out)
    extents = [fields[f"out{i}"] for i in range(broadcast.MERGED_DIMS)]
    assert int(np.prod(extents)) == int(np.prod(out))
    for name, shape in (("a", a), ("b", b)):
        strides = [fields[f"{name}_stride{i}"] for i in range(broadcast.MERGED_DIMS)]
        read = np.zeros(extents, dtype=np.int64)
        for axis, stride in enumerate(strides):
            shape_1 = [1] * broadcast.MERGED_DIMS
            shape_1[axis] = extents[axis]
            read = read + stride * np.arange(extents[axis]).reshape(shape_1)
        expected = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), out)
        assert np.array_equal(read.reshape(-1), expected.reshape(-1)), name


@pytest.mark.parametrize(
    "a, b, out, reason",
    [
        ((1, 4, 4, 3), (1, 4, 4, 2), (1, 4, 4, 3), "do not broadcast"),
        ((1, 4, 4, 3), (1, 1, 1, 3), (1, 4, 4, 1), "is not the broadcast shape"),
        ((2, 1, 2, 1, 2), (1, 2, 1, 2, 2), (2, 2, 2, 2, 2), "needs 5 loops"),
    ],
)
def test_broadcast_refusals(a, b, out, reason: str) -> None:
    with pytest.raises(OpError, match=reason):
        broadcast.loops(a, b, out)
