"""LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH and PRELU in the engine are byte-exact with TFLite Micro.

Each activation follows a convolution with large weights, so its input spans a wide range and
reaches both saturating ends (the converter keeps these ops separate). Models are converted
here (int8, and int16 where the converter makes the op), checked to contain their ops, and give
TFLite Micro's raw outputs on 300+ real CIFAR-10 and 300 random inputs, on the portable engine
and the default ISA; the engine's arena is no larger than TFLite Micro's. Ops whose parameters
TFLite Micro's kernels cannot take are refused with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import engine_reference as ref
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from host import tflite
from host.compiler.ops import PREPARE, OpError
from host.tflite import Tensor


def _activations_model(*kinds: str) -> Callable:
    """Conv (wide output range) then each activation in turn, then a last conv."""

    def make():
        import keras
        from keras import layers

        keras.utils.set_random_seed(8)
        wide = keras.initializers.RandomNormal(stddev=3.0)
        alpha = keras.initializers.RandomUniform(-0.6, 0.6)
        activations = {
            "sigmoid": lambda: layers.Activation("sigmoid"),
            "tanh": lambda: layers.Activation("tanh"),
            "leaky_relu": lambda: layers.LeakyReLU(0.2),
            "hard_swish": lambda: layers.Activation("hard_swish"),
            # alpha per channel, per position (shared over channels), per value
            "prelu": lambda: layers.PReLU(alpha, shared_axes=[1, 2]),
            "prelu-spatial": lambda: layers.PReLU(alpha, shared_axes=[3]),
            "prelu-full": lambda: layers.PReLU(alpha),
        }
        inputs = keras.Input((32, 32, 3), batch_size=1)
        x = inputs
        for kind in kinds:
            x = layers.Conv2D(4, 3, kernel_initializer=wide)(x)
            x = activations[kind]()(x)
        x = layers.Conv2D(3, 3, strides=2)(x)
        return keras.Model(inputs, layers.Flatten()(x))

    return make


# name -> (model maker, ops it must contain, precisions). The converter has no int16 HARD_SWISH
# or PRELU (and TFLite Micro no int16 HARD_SWISH): that model is int8 only.
MODELS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "sigmoid-tanh-leaky": (
        _activations_model("sigmoid", "tanh", "leaky_relu"),
        ("LOGISTIC", "TANH", "LEAKY_RELU"),
        ("int8", "int16"),
    ),
    "hard-swish-prelus": (
        _activations_model("hard_swish", "prelu", "prelu-spatial", "prelu-full"),
        ("HARD_SWISH", "PRELU"),
        ("int8",),
    ),
}


model = ref.op_model_fixture(MODELS)


@ref.EACH_ISA
def test_op_exact_with_tflm(model: ref.Variant, isa: str | None) -> None:
    ref.assert_op_model_exact(MODELS, model, isa)


def test_arena_not_larger_than_tflm(model: ref.Variant) -> None:
    ref.assert_arena_not_larger(model.path)


def _patched(source: Path, key: str, input_scales: dict[str, float], alpha: float | None) -> Path:
    """``source`` with the input scale of each op named in ``input_scales`` replaced (the conv
    before it then rescales to it) and LEAKY_RELU's alpha set: parameters the converter does not
    make, such as int16 power-of-two scales (the kernels' exact branch) or a negative alpha."""

    def make() -> bytes:
        model = tflite.check_model_bytes(source.read_bytes())
        graph = model.subgraphs[0]
        for op in graph.operators:
            name = tflite.op_name(model, op)
            if name in input_scales:
                graph.tensors[op.inputs[0]].quantization.scale = [input_scales[name]]
            if name == "LEAKY_RELU" and alpha is not None:
                op.builtinOptions.alpha = alpha
        return tflite.model_bytes(model)

    return ref.cached_conversion(key, make)


# case -> (model, precision, input scales of LOGISTIC / TANH / HARD_SWISH, LEAKY_RELU's alpha).
# int16 scales 2^-12 (LOGISTIC) and 2^-11 (TANH) take the power-of-two branch; int8 ones move
# the saturation radius from beyond the input range to a few steps; HARD_SWISH's shifts its
# "reluish" rescale from left (as converted) to right.
PATCHED: dict[str, tuple[str, str, dict[str, float], float | None]] = {
    "int16-power-of-two": (
        "sigmoid-tanh-leaky",
        "int16",
        {"LOGISTIC": 2.0**-12, "TANH": 2.0**-11},
        -0.3,
    ),
    "int16-power-of-two-0": (
        "sigmoid-tanh-leaky",
        "int16",
        {"LOGISTIC": 2.0**-12, "TANH": 2.0**-12},
        1.7,
    ),
    "int8-narrow": ("sigmoid-tanh-leaky", "int8", {"LOGISTIC": 0.01, "TANH": 0.005}, -0.3),
    "int8-coarse": ("sigmoid-tanh-leaky", "int8", {"LOGISTIC": 1.5, "TANH": 0.9}, 3.0),
    "hard-swish-fine": ("hard-swish-prelus", "int8", {"HARD_SWISH": 0.005}, None),
}
PATCHED_DEFAULT = ("int16-power-of-two",)


@pytest.mark.parametrize(
    "case",
    [pytest.param(k, marks=[] if k in PATCHED_DEFAULT else pytest.mark.slow) for k in PATCHED],
)
def test_patched_parameters_exact_with_tflm(case: str, data_dir) -> None:
    name, precision, scales, alpha = PATCHED[case]
    source = ref.op_model_path(MODELS, name, precision)
    path = _patched(source, f"ops-{name}-{case}", scales, alpha)
    ref.assert_engine_exact(ref.Variant(name, precision, path, None), "portable")


@ref.needs_board
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, (_, _, p) in MODELS.items() if "int8" in p])
def test_board_exact_with_tflm(name: str, data_dir) -> None:
    """The int8 model's firmware on the emulated Cortex-M4 (QEMU mps2-an386) gives TFLite
    Micro's raw outputs on real and random inputs."""
    path = ref.op_model_path(MODELS, name, "int8")
    variant = ref.Variant(name, "int8", path, None)
    ref.assert_board_exact_on_samples(variant)


def _tensor(index: int, type_name: str, scale: float, zero_point: int, data=None) -> Tensor:
    dtype = {"INT8": np.int8, "INT16": np.int16}[type_name]
    shape = (1, 4, 4, 2) if data is None else data.shape
    return Tensor(
        index, f"t{index}", shape, type_name, dtype, np.array([scale]), np.array([zero_point]), data
    )


# builtin -> (input, output, constant second input or None, the reason it is refused)
REFUSED = {
    "logistic-int8-output-zero-point": (
        "LOGISTIC",
        ("INT8", 0.1, 3),
        ("INT8", 1 / 256, 0),
        None,
        "zero point -128",
    ),
    "tanh-int16-output-scale": (
        "TANH",
        ("INT16", 1e-3, 0),
        ("INT16", 1 / 4096, 0),
        None,
        "needs scale",
    ),
    "logistic-int16-zero-point": (
        "LOGISTIC",
        ("INT16", 1e-3, 5),
        ("INT16", 1 / 32768, 0),
        None,
        "zero point 5",
    ),
    "hard-swish-int16": ("HARD_SWISH", ("INT16", 1e-3, 0), ("INT16", 1e-3, 0), None, "only int8"),
    "hard-swish-output-scale": (
        "HARD_SWISH",
        ("INT8", 1.0, 0),
        ("INT8", 1e-4, 0),
        None,
        "too small",
    ),
    "hard-swish-tiny-input-scale": (
        "HARD_SWISH",
        ("INT8", 1e-8, 0),
        ("INT8", 1e-8, 0),
        None,
        "more than 15 bits",
    ),
    "prelu-activation-alpha": (
        "PRELU",
        ("INT8", 0.1, 0),
        ("INT8", 0.1, 0),
        "activation",
        "constant int8",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_unsupported_parameters_refused(case: str) -> None:
    name, inp, out, second, reason = REFUSED[case]
    tensors = [_tensor(0, *inp), _tensor(1, *out)]
    op = schema.OperatorT()
    op.inputs, op.outputs = [0], [1]
    if second is not None:
        tensors.append(_tensor(2, "INT8", 0.1, 0))  # no data: an activation, not a constant
        op.inputs = [0, 2]
    with pytest.raises(OpError, match=reason):
        PREPARE[name](0, name, op, tensors)
