"""PAD, PADV2, CONCATENATION, RELU and RELU6 in the engine are byte-exact with TFLite Micro.

Tiny Keras models are converted here (int8 and int16, cached under build/engine-tests/), their
op is checked to be in the converted model, and 300+ real CIFAR-10 inputs plus 300 random inputs
give the same raw outputs as TFLite Micro's, on the portable engine and on the default ISA. The
engine's arena is no larger than TFLite Micro's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import engine_reference as ref

from host import tflite


def _pad_model(constant: bool) -> Callable:
    """PAD (ZeroPadding2D, zero-point fill) between convs; with ``constant``, also a PADV2."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(5)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
        x = layers.ZeroPadding2D(((1, 2), (3, 0)))(x)
        x = layers.Conv2D(6, 3, strides=2)(x)
        if constant:
            pads = ((0, 0), (2, 1), (0, 1), (1, 2))
            x = layers.Lambda(lambda t: keras.ops.pad(t, pads, constant_values=0.25))(x)
        x = layers.AveragePooling2D(2)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


def _concatenation_model(branches: bool) -> Callable:
    """A channel concatenation of two conv branches (``branches``) or of a map and its max pool,
    then one along width of a map and itself."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(6)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
        if branches:
            a = layers.Conv2D(3, 3, strides=2, padding="same")(x)
            b = layers.Conv2D(5, 1, strides=2)(x)
        else:
            a = layers.MaxPooling2D(2, padding="same")(x)
            b = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Concatenate()([a, b])
        x = layers.Concatenate(axis=2)([x, layers.MaxPooling2D(1)(x)])
        x = layers.AveragePooling2D(2)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


def _activation_model(kind: str) -> Callable:
    """An activation on the model input (the converter fuses it into a preceding conv or ADD,
    even through a RESHAPE)."""

    def make():
        import keras
        from keras import layers

        activations = {
            "relu": layers.ReLU(),
            "relu6": layers.Activation("relu6"),
        }
        keras.utils.set_random_seed(7)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=2)(activations[kind](inputs))
        return keras.Model(inputs, layers.Flatten()(x))

    return make


# name -> (model maker, ops it must contain, precisions). For int16 the converter leaves PADV2's
# constant in float (TFLite Micro refuses it): that model is int8 only. In int16 it requantizes
# one of two conv branches before a concatenation (an int16 -> int16 QUANTIZE).
MODELS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "pad": (_pad_model(False), ("PAD",), ("int8", "int16")),
    "padv2": (_pad_model(True), ("PAD", "PADV2"), ("int8",)),
    "concat-branches": (_concatenation_model(True), ("CONCATENATION",), ("int8", "int16")),
    "concat-pools": (_concatenation_model(False), ("CONCATENATION",), ("int8", "int16")),
    "relu": (_activation_model("relu"), ("RELU",), ("int8", "int16")),
    "relu6": (_activation_model("relu6"), ("RELU6",), ("int8", "int16")),
}


model = ref.op_model_fixture(MODELS)


@ref.EACH_ISA
def test_op_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def test_subnormal_scale_is_refused_in_one_line(data_dir, tmp_path: Path) -> None:
    """A tensor scale below float32's normal range (seen in a converted random model: 3.6e-43,
    which TFLite Micro refuses too) stops the compiler with one line and exit 2, no warnings."""
    model = tflite.check_model_bytes(ref.op_model_path(MODELS, "relu", "int8").read_bytes())
    graph = model.subgraphs[0]
    (conv,) = [op for op in graph.operators if tflite.op_name(model, op) == "CONV_2D"]
    graph.tensors[conv.outputs[0]].quantization.scale = [3.6e-43]
    path = tmp_path / "tiny-scale.tflite"
    path.write_bytes(tflite.model_bytes(model))
    run = subprocess.run(
        [sys.executable, "-m", "host.compiler", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ref.REPO_ROOT,
    )
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert re.match(r"error: op \d+ \(CONV_2D\): tensor .* not a normal float32", lines[0])
