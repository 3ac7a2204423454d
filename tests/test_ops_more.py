"""REDUCE_MAX and REDUCE_MIN in the engine are byte-exact with TFLite Micro.

Tiny Keras models are converted (int8 and int16, cached under build/engine-tests/), their ops
are checked to be in the converted model, and 300+ real CIFAR-10 inputs plus 300 random inputs
give the same raw outputs as TFLite Micro's, on the portable engine and on the default ISA. The
engine's arena is no larger than TFLite Micro's. Unsupported options are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable

import engine_reference as ref
import pytest

from host.compiler.graph import load_graph
from host.errors import UserError


def _reduce_model() -> Callable:
    """REDUCE_MAX over height and width (GlobalMaxPooling2D) and over channels kept, REDUCE_MIN
    over width and over height and channels, concatenated."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(12)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(6, 3, strides=3, activation="relu")(inputs)
        pooled = layers.GlobalMaxPooling2D()(x)
        across = layers.Lambda(lambda t: keras.ops.max(t, axis=3, keepdims=True))(x)
        narrow = layers.Lambda(lambda t: keras.ops.min(t, axis=2))(x)
        least = layers.Lambda(lambda t: keras.ops.min(t, axis=(1, 3)))(x)
        flat = [layers.Flatten()(t) for t in (across, narrow)]
        return keras.Model(inputs, layers.Concatenate()([pooled, least, *flat]))

    return make


# name -> (model maker, ops it must contain, precisions). TFLite Micro reduces no int16.
MODELS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "reduce": (_reduce_model(), ("REDUCE_MAX", "REDUCE_MIN"), ("int8",)),
}


model = ref.op_model_fixture(MODELS)


@ref.EACH_ISA
def test_op_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def test_int16_reduction_refused(data_dir) -> None:
    """TFLite Micro's REDUCE_MAX fails on int16 at invoke; the engine refuses it when loading."""
    path = ref.op_model_path(MODELS, "reduce", "int16")
    assert {"REDUCE_MAX", "REDUCE_MIN"} <= ref.op_names(path)
    with pytest.raises(UserError, match=r"^op \d+ \(REDUCE_MAX\): INT16 is not supported"):
        load_graph(path.read_bytes())
