"""REDUCE_MAX/MIN, SUM, TRANSPOSE_CONV and MIRROR_PAD in the engine are exact with TFLite Micro.

Tiny Keras models are converted (int8 and int16, cached under build/engine-tests/), their ops
are checked to be in the converted model, and 300+ real CIFAR-10 inputs plus 300 random inputs
give the same raw outputs as TFLite Micro's, on the portable engine and on the default ISA. The
engine's arena is no larger than TFLite Micro's. Unsupported options are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import engine_reference as ref
import pytest

from host import tflite
from host.compiler.graph import load_graph
from host.errors import UserError


def _reduce_model(ops: tuple[str, ...]) -> Callable:
    """Of ``ops``: REDUCE_MAX over height and width (GlobalMaxPooling2D) and over channels kept,
    REDUCE_MIN over width and over height and channels, SUM over channels kept and over height
    and width, concatenated."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(12)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(6, 3, strides=3, activation="relu")(inputs)
        outputs = []
        if "REDUCE_MAX" in ops:
            outputs.append(layers.GlobalMaxPooling2D()(x))
            outputs.append(keras.ops.max(x, axis=3, keepdims=True))
        if "REDUCE_MIN" in ops:
            outputs.append(keras.ops.min(x, axis=2))
            outputs.append(keras.ops.min(x, axis=(1, 3)))
        if "SUM" in ops:
            outputs.append(keras.ops.sum(x, axis=3, keepdims=True))
            outputs.append(keras.ops.sum(x, axis=(1, 2)))
        flat = [layers.Flatten()(t) if len(t.shape) > 2 else t for t in outputs]
        return keras.Model(inputs, layers.Concatenate()(flat))

    return make


def _transpose_conv_model() -> Callable:
    """Conv2DTranspose SAME with stride 2, a 5x5 kernel (padding 1) and a bias, then VALID with
    strides (2, 1), a 3x2 kernel and no bias (a decoder's upsampling)."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(13)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(6, 3, strides=4, activation="relu")(inputs)
        bias = keras.initializers.RandomNormal(stddev=0.3)
        x = layers.Conv2DTranspose(5, 5, strides=2, padding="same", bias_initializer=bias)(x)
        x = layers.Conv2DTranspose(4, (3, 2), strides=(2, 1), use_bias=False)(x)
        x = layers.AveragePooling2D(3)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


def _mirror_pad_model() -> Callable:
    """MIRROR_PAD REFLECT over height and width, then SYMMETRIC over width and channels."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(14)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=3, activation="relu")(inputs)
        reflect = ((0, 0), (2, 1), (0, 3), (0, 0))
        x = layers.Lambda(lambda t: keras.ops.pad(t, reflect, mode="reflect"))(x)
        x = layers.Conv2D(5, 3, strides=2)(x)
        symmetric = ((0, 0), (0, 0), (3, 1), (2, 5))
        x = layers.Lambda(lambda t: keras.ops.pad(t, symmetric, mode="symmetric"))(x)
        x = layers.AveragePooling2D(2)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


def _split_model() -> Callable:
    """SPLIT of channels into 2 + 2 + 2 (a grouped conv's branches), SPLIT_V of height into
    4 + 3 + 3, UNPACK of channels (the converter leaves a split with an unused output float)."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(15)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(6, 3, strides=3, activation="relu")(inputs)
        parts = keras.ops.split(x, 3, axis=3)
        x = layers.Concatenate()([layers.Conv2D(2, 1)(p) for p in parts])
        rows = keras.ops.split(x, [4, 7], axis=1)
        planes = keras.ops.unstack(layers.Conv2D(2, 1)(x), axis=3)
        flat = [layers.Flatten()(t) for t in (*rows, *planes)]
        return keras.Model(inputs, layers.Concatenate()(flat))

    return make


REDUCTIONS = ("REDUCE_MAX", "REDUCE_MIN", "SUM")
# name -> (model maker, ops it must contain, precisions). TFLite Micro finds the
# largest or smallest and mirror-pads no int16 (it sums int16).
MODELS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "reduce": (_reduce_model(REDUCTIONS), REDUCTIONS, ("int8",)),
    "sum": (_reduce_model(("SUM",)), ("SUM",), ("int16",)),
    "transpose-conv": (_transpose_conv_model(), ("TRANSPOSE_CONV",), ("int8", "int16")),
    "mirror-pad": (_mirror_pad_model(), ("MIRROR_PAD",), ("int8",)),
    "split": (_split_model(), ("SPLIT", "SPLIT_V", "UNPACK"), ("int8", "int16")),
}


model = ref.op_model_fixture(MODELS)


@ref.EACH_ISA
def test_op_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


@ref.needs_board
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, (_, _, p) in MODELS.items() if "int8" in p])
def test_board_exact_with_tflm(name: str, data_dir) -> None:
    """The int8 model's firmware on the emulated Cortex-M4 (QEMU mps2-an386) gives TFLite
    Micro's raw outputs on 3 real and 3 random inputs."""
    variant = ref.Variant(name, "int8", ref.op_model_path(MODELS, name, "int8"), None)
    ref.assert_board_exact_on_samples(variant)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def test_int16_reduction_refused(data_dir) -> None:
    """TFLite Micro's REDUCE_MAX fails on int16 at invoke; the engine refuses it when loading."""
    path = ref.op_model_path(MODELS, "reduce", "int16")
    assert {"REDUCE_MAX", "REDUCE_MIN"} <= ref.op_names(path)
    with pytest.raises(UserError, match=r"^op \d+ \(REDUCE_MAX\): INT16 is not supported"):
        load_graph(path.read_bytes())


def _fused_activation(precision: str, code: int) -> Path:
    """The transpose-conv model with fused activation ``code`` on its first TRANSPOSE_CONV (the
    converter leaves a ReLU as its own op; TFLite Micro applies a fused one)."""
    source = ref.op_model_path(MODELS, "transpose-conv", precision)

    def make() -> bytes:
        model = tflite.check_model_bytes(source.read_bytes())
        graph = model.subgraphs[0]
        op = next(o for o in graph.operators if tflite.op_name(model, o) == "TRANSPOSE_CONV")
        op.builtinOptions.fusedActivationFunction = code
        return tflite.model_bytes(model)

    return ref.cached_conversion(f"ops-transpose-conv-act{code}-{precision}", make)


@pytest.mark.parametrize("precision", ["int8", "int16"])
@pytest.mark.parametrize(
    "code", [pytest.param(1, marks=pytest.mark.slow, id="relu"), pytest.param(3, id="relu6")]
)
def test_transpose_conv_fused_activation_exact(data_dir, precision: str, code: int) -> None:
    path = _fused_activation(precision, code)
    ref.assert_engine_exact(ref.Variant("transpose-conv", precision, path, None), None)


def test_transpose_conv_unsupported_activation_refused(data_dir) -> None:
    """A fused TANH (code 4) on TRANSPOSE_CONV: refused by name, not run wrong."""
    path = _fused_activation("int8", 4)
    with pytest.raises(UserError, match=r"^op \d+ \(TRANSPOSE_CONV\): fused activation TANH"):
        load_graph(path.read_bytes())
