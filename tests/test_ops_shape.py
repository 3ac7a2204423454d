"""Data-movement ops in the engine are byte-exact with TFLite Micro: RESIZE_NEAREST_NEIGHBOR,
RESIZE_BILINEAR, STRIDED_SLICE, SLICE, TRANSPOSE, PACK, GATHER, SPACE_TO_DEPTH, DEPTH_TO_SPACE,
REVERSE_V2, BROADCAST_TO, SQUEEZE, EXPAND_DIMS, and BATCH_MATMUL.

Tiny Keras models chaining the ops with their options (aligned corners, half-pixel centers,
masks, negative strides, several permutations, adj_y, broadcast batches) are converted here
(int8 and int16 where TFLite Micro has the kernel; cached under build/engine-tests/), each op is
checked to be in the converted model, and 300+ real CIFAR-10 inputs plus 300 random inputs give
the same raw outputs as TFLite Micro's, on the portable engine and on the default ISA. The
engine's arena is no larger than TFLite Micro's. What TFLite Micro cannot run (int16
RESIZE_BILINEAR, TILE) is refused with the op's name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import engine_reference as ref
import numpy as np
import pytest

from host import compiler, tflite
from host.errors import UserError


def _resize(method: str, align: bool, half: bool, size: tuple[int, int]) -> Callable:
    """A Keras layer resizing with TensorFlow's raw op (its options written out)."""
    from keras import layers

    def resize(t):
        import tensorflow as tf

        op = tf.raw_ops.ResizeBilinear if method == "bilinear" else tf.raw_ops.ResizeNearestNeighbor
        return op(images=t, size=list(size), align_corners=align, half_pixel_centers=half)

    return layers.Lambda(resize)


def _gather_batch_dims(t):
    """Columns of each image of the batch (tf.gather with batch_dims 1)."""
    import tensorflow as tf

    return tf.gather(t, [[5, 0, 33, 7, 7, 20]], axis=2, batch_dims=1)


def _space_to_depth_and_back(t):
    """SPACE_TO_DEPTH by 2 (1x6x3x20), then DEPTH_TO_SPACE by 2 of its channels' last 8."""
    import tensorflow as tf

    x = tf.nn.space_to_depth(t, 2)
    return tf.nn.depth_to_space(x[..., 12:] + x[..., :8], 2)  # 1x12x6x2


def _resize_model(method: str, int8_ops: bool = False) -> Callable:
    """Resizes chained over a conv's map: up with half-pixel centers, down with aligned
    corners, up by 2 with neither, up with aligned corners; with ``int8_ops``, then the data
    movement TFLite Micro runs in int8 only."""

    def make():
        import keras
        from keras import layers, ops

        keras.utils.set_random_seed(11)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=4)(inputs)  # 8x8x4
        x = _resize(method, False, True, (11, 13))(x)
        x = _resize(method, True, False, (6, 5))(x)
        x = _resize(method, False, False, (12, 10))(x)
        x = _resize(method, True, False, (13, 17))(x)
        if int8_ops:  # PACK of two inputs, GATHER, SPACE_TO_DEPTH, DEPTH_TO_SPACE
            x = layers.Lambda(lambda t: ops.stack([t[:, 1:], t[:, :-1]], axis=2))(x)
            x = layers.Reshape((12, 34, 4))(x)
            x = layers.Lambda(lambda t: ops.take(t, [3, 0, 2, 2, 1], axis=3))(x)
            x = layers.Lambda(_gather_batch_dims)(x)  # 1x12x6x5
            x = layers.Lambda(_space_to_depth_and_back)(x)
        x = layers.Conv2D(3, 3, strides=2)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


def _shape_model() -> Callable:
    """A slice, transposes (4-D, 3-D, 5-D), strided slices (negative stride, begin/end masks,
    shrink axis, negative index), EXPAND_DIMS and SQUEEZE (EDITS), a reverse (its output
    quantized unlike its input), a broadcast and a PACK chained over a conv's map."""

    def make():
        import keras
        from keras import layers, ops

        keras.utils.set_random_seed(12)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(4, 3, strides=4)(inputs)  # 1x8x8x4
        x = layers.Lambda(lambda t: ops.slice(t, (0, 0, 1, 0), (1, 8, 6, 4)))(x)
        x = layers.Permute((2, 1, 3))(x)  # 1x6x8x4
        x = layers.Lambda(lambda t: t[:, 1:7:2, ::-1, 1:4])(x)  # 1x3x8x3
        x = layers.Lambda(lambda t: ops.transpose(t, (0, 3, 1, 2)))(x)  # 1x3x3x8
        x = layers.Reshape((3, 3, 2, 4))(x)
        x = layers.Lambda(lambda t: ops.transpose(t, (0, 4, 2, 1, 3)))(x)  # 1x4x2x3x3
        x = layers.Reshape((8, 9))(x)
        x = layers.Lambda(lambda t: ops.transpose(t, (0, 2, 1)))(x)  # 1x9x8
        x = layers.Lambda(lambda t: ops.expand_dims(t, 1))(x)  # 1x1x9x8
        x = layers.Lambda(lambda t: t[:, 0, -2::-3, :])(x)  # 1x3x8
        x = layers.Lambda(lambda t: ops.squeeze(ops.expand_dims(t, 2), 2))(x)
        x = layers.Lambda(lambda t: ops.flip(t, axis=1))(x)
        x = layers.Lambda(lambda t: ops.broadcast_to(t[:, :, None], (1, 3, 2, 8)))(x)
        x = layers.Lambda(lambda t: ops.stack([t, t], axis=1))(x)  # 1x2x3x2x8
        x = layers.Reshape((6, 16))(x)
        return keras.Model(inputs, layers.Conv1D(5, 2)(x))  # 1x5x5: the conv's map squeezed

    return make


def _matmul_model() -> Callable:
    """Attention-like products: q k^T (adj_y) per head, then by values broadcast over heads
    (edited to adj_x: EDITS)."""

    def make():
        import keras
        from keras import layers, ops

        keras.utils.set_random_seed(14)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(8, 3, strides=4)(inputs)  # 1x8x8x8
        heads = layers.Reshape((2, 8, 32))(x)
        q, k = layers.Dense(6)(heads), layers.Dense(6)(heads)  # 1x2x8x6
        v = layers.Dense(5)(layers.Reshape((1, 8, 64))(x))  # 1x1x8x5
        a = layers.Lambda(lambda t: ops.matmul(t[0], ops.transpose(t[1], (0, 1, 3, 2))))([q, k])
        x = layers.Lambda(lambda t: ops.matmul(t[0], t[1]))([a, v])  # 1x2x8x5
        return keras.Model(inputs, layers.Flatten()(x))

    return make


# name -> (model maker, ops it must contain, precisions). TFLite Micro resizes bilinearly,
# gathers and moves space to depth and back in int8 only.
MODELS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "resize-nearest": (_resize_model("nearest"), ("RESIZE_NEAREST_NEIGHBOR",), ("int8", "int16")),
    "resize-bilinear": (
        _resize_model("bilinear", int8_ops=True),
        ("RESIZE_BILINEAR", "PACK", "GATHER", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE"),
        ("int8",),
    ),
    "shape": (
        _shape_model(),
        (
            "TRANSPOSE",
            "STRIDED_SLICE",
            "SLICE",
            "SQUEEZE",
            "EXPAND_DIMS",
            "REVERSE_V2",
            "BROADCAST_TO",
            "PACK",
        ),
        ("int8", "int16"),
    ),
    "matmul": (_matmul_model(), ("BATCH_MATMUL",), ("int8", "int16")),
}


def _unit_axis(longer: list[int], shorter: list[int]) -> int | None:
    """The axis where ``longer`` has a 1 that ``shorter`` lacks, if that is all they differ by."""
    for axis in range(len(longer)):
        if longer[axis] == 1 and longer[:axis] + longer[axis + 1 :] == shorter:
            return axis
    return None


def _squeeze_and_expand_dims(model) -> None:
    """The first RESHAPE that adds a unit axis made an EXPAND_DIMS and the first that removes
    one a SQUEEZE (the ops other converters emit around a Conv1D; this one writes RESHAPEs)."""
    from ai_edge_litert import schema_py_generated as schema

    tensors = model.subgraphs[0].tensors
    done: set[str] = set()

    def opcode(code: int) -> int:
        model.operatorCodes.append(schema.OperatorCodeT())
        model.operatorCodes[-1].builtinCode = code
        model.operatorCodes[-1].deprecatedBuiltinCode = min(code, 127)
        model.operatorCodes[-1].version = 1
        return len(model.operatorCodes) - 1

    for op in model.subgraphs[0].operators:
        if tflite.op_name(model, op) != "RESHAPE":
            continue
        before, after = (list(tensors[t].shape) for t in (op.inputs[0], op.outputs[0]))
        added, removed = _unit_axis(after, before), _unit_axis(before, after)
        if added is not None and "EXPAND_DIMS" not in done:
            axis = copy.deepcopy(tensors[op.inputs[1]])
            model.buffers.append(schema.BufferT())
            model.buffers[-1].data = np.array([added], np.int32).view(np.uint8)
            axis.buffer, axis.shape, axis.name = len(model.buffers) - 1, [1], b"axis"
            tensors.append(axis)
            op.inputs = [op.inputs[0], len(tensors) - 1]
            op.opcodeIndex = opcode(schema.BuiltinOperator.EXPAND_DIMS)
            op.builtinOptionsType = schema.BuiltinOptions.ExpandDimsOptions
            op.builtinOptions = schema.ExpandDimsOptionsT()
            done.add("EXPAND_DIMS")
        elif removed is not None and "SQUEEZE" not in done:
            op.inputs = [op.inputs[0]]
            op.opcodeIndex = opcode(schema.BuiltinOperator.SQUEEZE)
            op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
            op.builtinOptions = schema.SqueezeOptionsT()
            op.builtinOptions.squeezeDims = [removed]
            done.add("SQUEEZE")


def _transposed_lhs(model) -> None:
    """adj_x on the BATCH_MATMULs whose left operand is square (the converter never sets it;
    the shapes stay valid)."""
    tensors = model.subgraphs[0].tensors
    for op in model.subgraphs[0].operators:
        rows, cols = tensors[op.inputs[0]].shape[-2:]
        if tflite.op_name(model, op) == "BATCH_MATMUL" and rows == cols:
            op.builtinOptions.adjX = True


# Converted models edited before use: name -> edit of the parsed model
EDITS: dict[str, Callable] = {"shape": _squeeze_and_expand_dims, "matmul": _transposed_lhs}


def _converted(name: str, precision: str):
    make, edit = MODELS[name][0], EDITS.get(name)
    if edit is None:
        return ref.op_model_path(MODELS, name, precision)
    return ref.cached_conversion(
        f"ops-{name}-{precision}", lambda: ref.edited(ref.convert_keras(make, precision), edit)
    )


# Run by `make test-all` only (CI time): int16 nearest resizing is the int8 kernel's copy of
# twice the bytes per pixel.
SLOW = {("resize-nearest", "int16")}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((name, p), marks=[pytest.mark.slow] if (name, p) in SLOW else [])
        for name, (_, _, precisions) in MODELS.items()
        for p in precisions
    ],
    ids=lambda param: f"{param[0]}-{param[1]}",
)
def model(request, data_dir) -> ref.Variant:
    name, precision = request.param
    return ref.Variant(name, precision, _converted(name, precision), None)


@ref.EACH_ISA
def test_op_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


@ref.needs_board
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, (_, _, p) in MODELS.items() if "int8" in p])
def test_board_exact_with_tflm(name: str, data_dir) -> None:
    """The int8 model's firmware on the emulated Cortex-M4 (QEMU mps2-an386) gives TFLite
    Micro's raw outputs on 3 real and 3 random inputs."""
    variant = ref.Variant(name, "int8", _converted(name, "int8"), None)
    ref.assert_board_exact_on_samples(variant)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def _upsampling_model():
    """Keras UpSampling2D (nearest): the converter emits RESHAPE/TILE chains."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(13)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.UpSampling2D(2)(layers.Conv2D(4, 3, strides=4)(inputs))
    return keras.Model(inputs, layers.Flatten()(x))


@pytest.mark.parametrize(
    ("name", "make", "precision", "message"),
    [
        ("bilinear", _resize_model("bilinear"), "int16", r"op 1 \(RESIZE_BILINEAR\): INT16"),
        ("tile", _upsampling_model, "int8", r"\(TILE\): not supported by the engine"),
    ],
    ids=["bilinear-int16", "tile"],
)
def test_what_tflm_cannot_run_is_refused(
    name: str, make: Callable, precision: str, message: str, data_dir
) -> None:
    path = ref.cached_conversion(
        f"ops-refused-{name}-{precision}", lambda: ref.convert_keras(make, precision)
    )
    with pytest.raises(UserError, match=message):
        compiler.compile_model(path)
    with pytest.raises(RuntimeError):  # TFLite Micro has no kernel for it either
        interpreter = ref.tflm_interpreter(path)
        interpreter.set_input(
            np.zeros((1, 32, 32, 3), np.int8 if precision == "int8" else np.int16), 0
        )
        interpreter.invoke()


@pytest.mark.parametrize(
    ("name", "op_name", "options", "message"),
    [
        ("shape", "STRIDED_SLICE", {"ellipsisMask": 1}, "ellipsis and new-axis masks"),
        (
            "resize-bilinear",
            "RESIZE_BILINEAR",
            {"alignCorners": True, "halfPixelCenters": True},
            "half_pixel_centers needs align_corners false",
        ),
        ("matmul", "BATCH_MATMUL", {"adjY": False}, "do not multiply"),
    ],
    ids=["strided-slice-ellipsis", "bilinear-both-options", "matmul-depths"],
)
def test_bad_options_are_refused(
    name: str, op_name: str, options: dict, message: str, tmp_path: Path, data_dir
) -> None:
    def edit(model) -> None:  # the options of the first op_name op
        op = next(o for o in model.subgraphs[0].operators if tflite.op_name(model, o) == op_name)
        for field, value in options.items():
            setattr(op.builtinOptions, field, value)

    path = tmp_path / "edited.tflite"
    path.write_bytes(ref.edited(_converted(name, "int8").read_bytes(), edit))
    with pytest.raises(UserError, match=rf"op \d+ \({op_name}\): .*{message}"):
        compiler.compile_model(path)
