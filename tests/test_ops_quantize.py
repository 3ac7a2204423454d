"""QUANTIZE and DEQUANTIZE in the engine: float-I/O models byte-exact with TFLite Micro.

The converter's default output keeps float32 input and output: a QUANTIZE (float32 -> int8 or
int16) first, a DEQUANTIZE (int -> float32) last. Tiny Keras models are converted that way
(int8 and int16x8, cached under build/engine-tests/); in int16 the converter also requantizes
one of two conv branches before their concatenation (an int16 -> int16 QUANTIZE). The engine's
float32 outputs equal the wheel's bit for bit on 300 real CIFAR-10 images (pixels / 255) and
300 random floats (a third of them outside the input range, to saturate), on the portable
engine and the default ISA; the engine's arena is no larger than TFLite Micro's; a float tensor
anywhere else is refused naming its op; and on the emulated board (QEMU) a float-I/O model
answers bit-exact with the wheel. The converter's uint8-I/O model (QUANTIZE uint8 -> int8
first, int8 -> uint8 last) and hand-built chains of every QUANTIZE type pair are exact too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import engine_reference as ref
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from test_ops_simple import _concatenation_model

from host import data, tflite
from host.backends.engine import EngineBackend
from host.compiler.graph import load_graph
from host.errors import UserError

# name -> (model maker, ops it must contain per precision)
MODELS: dict[str, tuple[Callable, dict[str, tuple[str, ...]]]] = {
    "float-io": (
        _concatenation_model(True),
        {"int8": ("QUANTIZE", "DEQUANTIZE"), "int16": ("QUANTIZE", "DEQUANTIZE")},
    ),
}


def _convert(make: Callable, precision: str) -> bytes:
    return ref.convert_keras(make, precision, float_io=True)


def _float_model(name: str, precision: str) -> Path:
    make = MODELS[name][0]
    return ref.cached_conversion(f"ops-{name}-{precision}", lambda: _convert(make, precision))


@pytest.fixture(scope="module", params=["int8", "int16"])
def model(request, data_dir) -> ref.Variant:
    return ref.Variant("float-io", request.param, _float_model("float-io", request.param), None)


def float_inputs(shape: tuple[int, ...]) -> np.ndarray:
    """N_REAL CIFAR-10 test images as the float model reads them (pixels / 255, float32), then
    N_RANDOM random floats: uniform in [0, 1], in [-1.5, 2.5] (saturating) and at halfway
    points k / 510 (ties of the int8 rounding)."""
    pixels = data.load("cifar10", "test").x[: ref.N_REAL]
    real = (pixels.astype(np.float32) / np.float32(255.0)).reshape(-1, *shape)
    rng = np.random.default_rng(2024)
    n = ref.N_RANDOM // 3
    inside = rng.uniform(0.0, 1.0, (n, *shape))
    outside = rng.uniform(-1.5, 2.5, (n, *shape))
    halves = rng.integers(0, 511, (ref.N_RANDOM - 2 * n, *shape)) / 510.0
    random = np.concatenate([inside, outside, halves]).astype(np.float32)
    return np.concatenate([real, random])


def _input_shape(path: Path) -> tuple[int, ...]:
    details = ref.tflm_interpreter(path).get_input_details(0)
    assert details["dtype"] == np.float32
    return tuple(int(d) for d in details["shape"][1:])


@ref.EACH_ISA
def test_float_io_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ops = ref.op_names(model.path)
    assert set(MODELS[model.name][1][model.precision]) <= ops, ops
    inputs = float_inputs(_input_shape(model.path))
    backend = EngineBackend(model.path, model.precision, isa=isa)
    ours = backend.invoke(inputs).reshape(len(inputs), -1)
    reference = ref.tflm_outputs(model.path, inputs)
    assert ours.dtype == np.float32 and reference.dtype == np.float32
    differ = np.any(ours.view(np.uint32) != reference.view(np.uint32), axis=1)
    assert not differ.any(), f"{differ.sum()} examples differ, first {np.flatnonzero(differ)[0]}"
    assert len(np.unique(ours[: ref.N_REAL], axis=0)) > 1


def _convert_uint8_io() -> bytes:
    """The int8 concat-branches model with the converter's uint8 input and output (a QUANTIZE
    uint8 -> int8 first, int8 -> uint8 last)."""
    import contextlib
    import io

    import tensorflow as tf

    calibration = (ref.calibration_images() / 255.0).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(_concatenation_model(True)())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[np.newaxis]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    with contextlib.redirect_stdout(io.StringIO()):  # the converter chats on stdout
        return converter.convert()


def test_uint8_io_exact_with_tflm(data_dir) -> None:
    """A uint8-I/O model (raw pixels in, uint8 scores out) equals the wheel byte for byte on
    300 real images and 300 random ones."""
    path = ref.cached_conversion("ops-uint8-io-int8", _convert_uint8_io)
    kernels = [op.kernel for op in load_graph(path.read_bytes()).ops]
    assert kernels[0] == "RequantizeU8S8" and kernels[-1] == "RequantizeS8U8", kernels
    pixels = data.load("cifar10", "test").x[: ref.N_REAL]
    random = np.random.default_rng(5).integers(0, 256, (ref.N_RANDOM, *pixels.shape[1:]))
    inputs = np.concatenate([pixels, random]).astype(np.uint8)
    ours = EngineBackend(path, "int8").invoke(inputs).reshape(len(inputs), -1)
    reference = ref.tflm_outputs(path, inputs)
    assert ours.dtype == reference.dtype == np.uint8
    mismatches = np.flatnonzero(np.any(ours != reference, axis=1))
    assert len(mismatches) == 0, f"{len(mismatches)} examples differ, first {mismatches[0]}"
    assert len(np.unique(ours[: ref.N_REAL], axis=0)) > 1


def test_int16_requantize_in_model(data_dir) -> None:
    """The int16 model requantizes a branch (an int16 -> int16 QUANTIZE): compiled as one."""
    graph = load_graph(_float_model("float-io", "int16").read_bytes())
    kernels = [op.kernel for op in graph.ops if op.name == "QUANTIZE"]
    assert kernels[0] == "QuantizeF32S16" and "RequantizeS16S16" in kernels[1:], kernels


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def test_float_backend_input(model: ref.Variant) -> None:
    """Backends give a float-input model float pixels in its range, not quantized integers."""
    from host.backends.tflm import TflmBackend

    x01 = float_inputs(_input_shape(model.path))[:8]
    engine = EngineBackend(model.path, model.precision, input_range=1.0)
    tflm = TflmBackend(model.path, model.precision, input_range=1.0)
    assert engine.quantize(x01).dtype == np.float32
    assert np.array_equal(engine.quantize(x01), x01)
    assert np.array_equal(tflm.quantize(x01), x01)
    ours, theirs = engine.run(x01), tflm.run(x01)
    assert np.array_equal(ours.view(np.uint32), theirs.view(np.uint32))
    assert np.array_equal(engine.dequantize_output(ours), ours)


def test_float_io_model_through_the_main_command(data_dir, tmp_path) -> None:
    """``python -m host.evaluate --tflite`` takes a float-I/O model: its precision, input step
    and outputs come through its QUANTIZE and DEQUANTIZE; the engine and TFLite Micro agree
    on every clean and adversarial example, and eps in quantization steps is in its steps."""
    import json

    from host import evaluate
    from host.attacks.threat import step_of
    from host.backends.tflm import TflmBackend

    def classifier():
        import keras
        from keras import layers

        keras.utils.set_random_seed(8)
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
        x = layers.MaxPooling2D(3)(x)
        outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
        return keras.Model(inputs, outputs)

    path = ref.cached_conversion("ops-float-io-classifier", lambda: _convert(classifier, "int8"))
    assert {"QUANTIZE", "DEQUANTIZE"} <= ref.op_names(path)
    _, scale, _ = tflite.input_quantization(path.read_bytes())
    assert scale != 1.0 and step_of(EngineBackend(path, "int8")) == pytest.approx(scale)
    assert step_of(TflmBackend(path, "int8")) == pytest.approx(scale)
    args = ["--tflite", str(path), "--dataset", "cifar10", "--n", "6", "--out", str(tmp_path)]
    args += ["--backends", "engine-int8,tflm-int8", "--attacks", "square-linf"]
    args += ["--eps-steps", "4", "--mode", "direct", "--queries", "20"]
    assert evaluate.main(args) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6
    for record in records:
        engine, tflm = record["backends"]["engine-int8"], record["backends"]["tflm-int8"]
        assert engine["prediction"] == tflm["prediction"]
        assert engine["distortion"]["steps"]["linf"] <= 4


# Hand-built chains of QUANTIZE / DEQUANTIZE ops (no converter): the model input's (type,
# scale, zero point), then each op's output. "requantize" covers every int -> int pair
# (int8 -> int8 with only the zero point changed too); the float ones use power-of-two scales,
# so that inputs k / 2^n land exactly on halfway points of the rounding.
CHAINS: dict[str, list[tuple[str, float, int]]] = {
    "requantize": [
        ("INT8", 0.05, 3),
        ("INT16", 0.0004, 0),
        ("INT16", 0.0011, 0),
        ("INT8", 0.03, -7),
        ("INT8", 0.03, 5),
        ("INT8", 0.07, -20),
    ],
    "float-int8": [("FLOAT32", 0.0, 0), ("INT8", 2.0**-4, -3), ("FLOAT32", 0.0, 0)],
    "float-int16": [("FLOAT32", 0.0, 0), ("INT16", 2.0**-10, 0), ("FLOAT32", 0.0, 0)],
    "uint8": [("UINT8", 0.05, 128), ("INT8", 0.05, 0), ("INT8", 0.03, -5), ("UINT8", 0.025, 120)],
    "uint8-same-scale": [("UINT8", 0.04, 0), ("INT8", 0.05, -100), ("UINT8", 0.05, 28)],
}
CHAIN_SHAPE = [1, 8, 8, 3]


def _chain_model(steps: list[tuple[str, float, int]]) -> bytes:
    """A .tflite of one op per step after the first: QUANTIZE, or DEQUANTIZE into float32."""
    codes = {"QUANTIZE": schema.BuiltinOperator.QUANTIZE}
    codes["DEQUANTIZE"] = schema.BuiltinOperator.DEQUANTIZE
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    model.operatorCodes = []
    for code in codes.values():
        operator_code = schema.OperatorCodeT()
        operator_code.builtinCode = operator_code.deprecatedBuiltinCode = code
        operator_code.version = 1
        model.operatorCodes.append(operator_code)
    graph = schema.SubGraphT()
    graph.tensors, graph.operators = [], []
    for index, (type_name, scale, zero_point) in enumerate(steps):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.buffer = f"t{index}", list(CHAIN_SHAPE), 0
        tensor.type = getattr(schema.TensorType, type_name)
        if type_name != "FLOAT32":
            tensor.quantization = schema.QuantizationParametersT()
            tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [zero_point]
        graph.tensors.append(tensor)
        if index:
            op = schema.OperatorT()
            op.opcodeIndex = int(type_name == "FLOAT32")
            op.inputs, op.outputs = [index - 1], [index]
            graph.operators.append(op)
    graph.inputs, graph.outputs = [0], [len(steps) - 1]
    model.subgraphs = [graph]
    return tflite.model_bytes(model)


EXTREMES = np.array([1e12, -1e12, np.inf, -np.inf, np.nan, 2.0**21, -(2.0**21), 3e5], np.float32)


def _chain_inputs(type_name: str) -> np.ndarray:
    """600 inputs: every int8 or uint8 value, or multiples of 2^-5 and 2^-11 (ties of both float
    chains) from far below to far above the int8 and int16 ranges, and EXTREMES."""
    rng = np.random.default_rng(12)
    shape = (2 * ref.N_RANDOM, *CHAIN_SHAPE[1:])
    if type_name in ("INT8", "UINT8"):
        info = np.iinfo(type_name.lower())
        return rng.integers(info.min, info.max + 1, shape, dtype=type_name.lower())
    coarse = rng.integers(-6000, 6000, shape) * 2.0**-5
    fine = rng.integers(-80000, 80000, shape) * 2.0**-11
    values = np.where(rng.random(shape) < 0.5, coarse, fine).astype(np.float32)
    # Beyond int32 after the division, and NaN: TFLite's unchecked cast (INT32_MIN on x86)
    values.reshape(-1)[: len(EXTREMES)] = EXTREMES
    return values


@pytest.mark.parametrize("name", CHAINS)
def test_quantize_chain_exact_with_tflm(name: str) -> None:
    """Every QUANTIZE kernel (and both DEQUANTIZEs) on a hand-built chain equals the wheel."""
    steps = CHAINS[name]
    path = ref.cached_conversion(f"ops-chain-{name}", lambda: _chain_model(steps))
    kernels = [op.kernel for op in load_graph(path.read_bytes()).ops]
    inputs = _chain_inputs(steps[0][0])
    ours = EngineBackend(path, "int8").invoke(inputs).reshape(len(inputs), -1)
    reference = ref.tflm_outputs(path, inputs)
    assert ours.dtype == reference.dtype
    width = ours.dtype.itemsize
    differ = ours.view(f"u{width}") != reference.view(f"u{width}")
    assert not differ.any(), f"{kernels}: {differ.any(axis=1).sum()} examples differ"
    assert len(np.unique(ours)) > 100


def _unquantized_model() -> bytes:
    """A float model converted without quantization: every op is float32."""
    import contextlib
    import io

    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3), batch_size=1)
    x = layers.Flatten()(layers.Conv2D(2, 3)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, layers.Dense(4)(x)))
    with contextlib.redirect_stdout(io.StringIO()):  # the converter chats on stdout
        return converter.convert()


def test_float_model_refused() -> None:
    """An unquantized model: its first op reading the float32 input is refused, one line."""
    path = ref.cached_conversion("ops-unquantized", _unquantized_model)
    with pytest.raises(
        UserError, match=r"^op 0 \(CONV_2D\): reads float32 tensor .*int8 and int16 ops"
    ):
        load_graph(path.read_bytes())


def test_float_tensor_elsewhere_refused(data_dir) -> None:
    """A float32 or uint8 tensor between two ops (here a conv's output) is refused with the op
    that writes it; so is a float32 model output written by anything but DEQUANTIZE."""
    content = _float_model("float-io", "int8").read_bytes()

    for type_name in ("FLOAT32", "UINT8"):

        def edge_type_conv_output(model, type_name: str = type_name) -> None:
            graph = model.subgraphs[0]
            names = [tflite.op_name(model, op) for op in graph.operators]
            conv = graph.operators[names.index("CONV_2D")]
            graph.tensors[conv.outputs[0]].type = getattr(schema.TensorType, type_name)

        message = rf"^op \d+ \(CONV_2D\): writes {type_name.lower()} tensor"
        with pytest.raises(UserError, match=message):
            load_graph(ref.edited(content, edge_type_conv_output))

    def float_output_without_dequantize(model) -> None:
        graph = model.subgraphs[0]
        (quantize,) = [op for op in graph.operators if tflite.op_name(model, op) == "QUANTIZE"][:1]
        graph.outputs = [quantize.outputs[0]]
        graph.tensors[quantize.outputs[0]].type = schema.TensorType.FLOAT32

    with pytest.raises(UserError, match=r"^op 0 \(QUANTIZE\): writes float32 tensor"):
        load_graph(ref.edited(content, float_output_without_dequantize))


@ref.needs_board
def test_float_io_on_emulated_board(data_dir) -> None:
    """The int8 float-I/O model on the board: 8 inputs (4 real, 4 saturating random, one with
    EXTREMES), float32 outputs bit-exact with the wheel."""
    path = _float_model("float-io", "int8")
    inputs = float_inputs(_input_shape(path))
    x = np.concatenate([inputs[:4], inputs[ref.N_REAL + 100 : ref.N_REAL + 104]])
    x[-1].reshape(-1)[: len(EXTREMES)] = EXTREMES  # the same bits as the wheel on x86
    ref.assert_board_exact(path, x)


@ref.needs_board
@pytest.mark.slow
def test_uint8_io_on_emulated_board(data_dir) -> None:
    """The uint8-I/O model on the board: 8 raw CIFAR-10 images, uint8 outputs exact."""
    path = ref.cached_conversion("ops-uint8-io-int8", _convert_uint8_io)
    ref.assert_board_exact(path, data.load("cifar10", "test").x[:8].astype(np.uint8))
