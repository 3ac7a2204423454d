"""MEAN (keras GlobalAveragePooling2D, and over other axes) in the engine is byte-exact with the
TFLite Micro wheel.

Tiny Keras models (5x7 and 4x6 spatial sizes after a conv, keepdims False and True, one edited
so that MEAN's input and output share quantization, and one with MEANs over channels, height
and channels, and width) are converted here in int8 and
int16x8 (cached under build/engine-tests/); MEAN is checked to be in each converted model, and
300+ real CIFAR-10 inputs plus 300 random inputs give the same raw outputs as TFLite Micro's, on
the portable engine and on the default ISA. The engine's arena is no larger than TFLite Micro's.
MEANs whose output shape contradicts their axes or keep_dims flag are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from engine_reference import (
    EACH_ISA,
    Variant,
    assert_arena_not_larger,
    assert_engine_exact,
    cached_conversion,
    convert_keras,
    op_names,
)

from host import compiler, tflite
from host.errors import UserError


def _mean_model(keepdims: bool, strides: tuple[int, int]):
    """A conv to 8 channels (5x7 with strides (7, 4), 4x6 with (8, 5)), then
    GlobalAveragePooling2D (MEAN over axes 1 and 2), then a dense."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(11)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(8, (4, 6), strides=strides, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D(keepdims=keepdims)(x)
    x = layers.Flatten()(x) if keepdims else x
    return keras.Model(inputs, layers.Dense(10)(x))


def _mean_axes_model():
    """MEANs over other axes: channels (keep_dims), height and channels, width alone."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(21)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(6, 3, strides=3, activation="relu")(inputs)
    means = [
        keras.ops.mean(x, axis=3, keepdims=True),
        keras.ops.mean(x, axis=(1, 3)),
        keras.ops.mean(x, axis=2),
    ]
    flat = [layers.Flatten()(t) if len(t.shape) > 2 else t for t in means]
    return keras.Model(inputs, layers.Concatenate()(flat))


MODELS: dict[str, Callable] = {
    "mean": lambda: _mean_model(False, (7, 4)),
    "mean-keepdims": lambda: _mean_model(True, (8, 5)),  # an even count: halves to round
    "mean-axes": _mean_axes_model,  # SUM's kernel with 1 / count folded in
}


def _edit_mean(content: bytes, edit: Callable) -> bytes:
    """The model with ``edit(model, mean_op)`` applied to its MEAN op."""
    model = tflite.check_model_bytes(content)
    graph = model.subgraphs[0]
    (op,) = [op for op in graph.operators if tflite.op_name(model, op) == "MEAN"]
    edit(model, op)
    return tflite.model_bytes(model)


def _same_quantization(model, op) -> None:
    """MEAN's output takes its input's scale and zero point (the rounded average of the values)."""
    tensors = model.subgraphs[0].tensors
    tensors[op.outputs[0]].quantization = copy.deepcopy(tensors[op.inputs[0]].quantization)


# a converted model edited: name -> (model it comes from, edit of its MEAN op)
EDITED: dict[str, tuple[str, Callable]] = {"mean-same-scale": ("mean-keepdims", _same_quantization)}


@pytest.fixture(
    scope="module",
    params=[(m, p) for m in [*MODELS, *EDITED] for p in ("int8", "int16")],
    ids=lambda param: f"{param[0]}-{param[1]}",
)
def model(request, data_dir) -> Variant:
    name, precision = request.param
    return Variant(name, precision, _converted(name, precision), None)


def _converted(name: str, precision: str) -> Path:
    if name in EDITED:
        source, edit = EDITED[name]
        content = _converted(source, precision).read_bytes()
        return cached_conversion(f"ops-{name}-{precision}", lambda: _edit_mean(content, edit))
    make = MODELS[name]
    return cached_conversion(f"ops-{name}-{precision}", lambda: convert_keras(make, precision))


@EACH_ISA
def test_mean_exact_with_tflm(model: Variant, isa: str | None) -> None:
    assert "MEAN" in op_names(model.path), op_names(model.path)
    assert_engine_exact(model, isa)


def test_arena_not_larger_than_tflm(model: Variant) -> None:
    assert_arena_not_larger(model.path)


def _axis_to_channels(model, op) -> None:
    axis = model.subgraphs[0].tensors[op.inputs[1]]
    model.buffers[axis.buffer].data = np.array([3], dtype=np.int32).view(np.uint8)
    axis.shape = [1]


def _no_keep_dims(model, op) -> None:
    op.builtinOptions.keepDims = False  # the output keeps its 4-D shape


@pytest.mark.parametrize(
    ("edit", "message"),
    [(_axis_to_channels, "output shape"), (_no_keep_dims, "output shape")],
)
def test_unsupported_mean_is_refused(
    edit: Callable, message: str, tmp_path: Path, data_dir
) -> None:
    path = tmp_path / "edited.tflite"
    path.write_bytes(_edit_mean(_converted("mean-keepdims", "int8").read_bytes(), edit))
    with pytest.raises(UserError, match=f"MEAN.*{message}"):
        compiler.compile_model(path)
