"""The firmware engine, built for the host, is byte-exact with the TFLite Micro wheel.

For every model variant of the zoo that exists (int8 and int16), plus models converted here to
cover the int16x8 kernels and the remaining ops: 300+ real inputs and 300 random inputs give
raw outputs identical to TFLite Micro's. Also: the arena is no larger than TFLite Micro's, an
unsupported op stops the compiler with a one-line error naming it, and the engine builds for
Cortex-M4 and M7 with -Werror.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_reference import (
    N_RANDOM,
    N_REAL,
    REPO_ROOT,
    Variant,
    cached_conversion,
    calibration_images,
    random_inputs,
    real_inputs,
    tflm_arena_bytes,
    tflm_interpreter,
    tflm_outputs,
)

from host import compiler, zoo
from host.backends.engine import EngineBackend
from host.compiler import toolchain
from host.errors import UserError

# TFLite Micro's arena_used_bytes for the int8 MLPerf models on Cortex-M (32-bit), from DESIGN.md.
TFLM_ARM_ARENA = {"mlperf-resnet8": 54340, "mlperf-vww": 100660, "mlperf-kws": 22772}


def _mlperf_resnet8_int16() -> bytes:
    from host import quantize

    model = quantize.load_float_model("mlperf-resnet8")
    return quantize.convert(model, calibration_images().astype(np.float32), "int16")


def _synthetic_model():
    """A small CNN with the ops and options the zoo's models leave out of the MLPerf ones."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(8, 5, strides=2, padding="valid", activation="relu6")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(12, 3, dilation_rate=2, padding="same")(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _synthetic(precision: str) -> bytes:
    from host import quantize

    calibration = (calibration_images() / 255.0).astype(np.float32)
    return quantize.convert(_synthetic_model(), calibration, precision)


def _variants() -> list:
    params = []
    for name in ("mlperf-resnet8", "mlperf-vww", "mlperf-kws", "cifar10-resnet8", "coffee-cnn"):
        for precision in ("int8", "int16"):
            variant_id = f"{name}-{precision}"
            if name == "mlperf-resnet8" and precision == "int16":
                maker = _mlperf_resnet8_int16
                params.append(pytest.param((name, precision, maker), id=variant_id))
                continue
            if name.startswith("mlperf") and precision == "int16":
                continue  # MLPerf publishes int8 files only (VWW/KWS have no float model here)
            params.append(pytest.param((name, precision, None), id=variant_id))
    for precision in ("int8", "int16"):
        params.append(pytest.param(("synthetic", precision, None), id=f"synthetic-{precision}"))
    return params


@pytest.fixture(scope="module", params=_variants())
def variant(request, data_dir) -> Variant:
    name, precision, maker = request.param
    if name == "synthetic":
        path = cached_conversion(f"synthetic-{precision}", lambda: _synthetic(precision))
        return Variant(name, precision, path, None)
    if maker is not None:
        return Variant(name, precision, cached_conversion(f"{name}-{precision}", maker), "cifar10")
    try:
        path = zoo.model_file(name, precision)
    except UserError as error:
        pytest.skip(f"{name} {precision} not available yet: {error}")
    return Variant(name, precision, path, zoo.spec(name).dataset)


def test_engine_exact_on_real_and_random_inputs(variant: Variant) -> None:
    interpreter = tflm_interpreter(variant.path)
    details = interpreter.get_input_details(0)
    inputs = np.concatenate([real_inputs(variant, details), random_inputs(details)])
    assert len(inputs) >= N_REAL + N_RANDOM
    assert inputs.dtype == np.dtype(details["dtype"])
    ours = EngineBackend(variant.path, variant.precision).invoke(inputs).reshape(len(inputs), -1)
    reference = tflm_outputs(variant.path, inputs)
    assert ours.shape == reference.shape
    diff = np.abs(ours.astype(np.int64) - reference.astype(np.int64))
    exact = np.all(diff == 0, axis=1)
    assert exact.all(), (
        f"{variant.name} {variant.precision}: {exact.sum()}/{len(exact)} examples exact, "
        f"max difference {diff.max()} steps, first bad example {np.flatnonzero(~exact)[0]}"
    )
    # Real inputs must exercise the model: not every real example gives the same output.
    assert len(np.unique(ours[:N_REAL], axis=0)) > 1


def test_engine_arena_not_larger_than_tflm(variant: Variant) -> None:
    """Our static arena is no larger than TFLite Micro's.

    Both firmwares also hold the caller's input (UART receive) and output buffers; TFLite Micro
    copies the input into its arena, the engine reads it where it is.
    """
    ours = compiler.compile_model(variant.path).arena_bytes
    tflm = tflm_arena_bytes(variant.path)
    assert ours <= tflm["total"], (ours, tflm)
    if variant.name in TFLM_ARM_ARENA and variant.precision == "int8":
        assert ours <= TFLM_ARM_ARENA[variant.name]


def _model_with_rsqrt() -> bytes:
    """An int8 model with RSQRT: TFLite Micro has the op, the engine does not."""
    import keras
    import tensorflow as tf
    from keras import layers

    inputs = keras.Input((8,), batch_size=1)
    x = layers.Dense(8, activation="relu")(inputs)
    outputs = layers.Lambda(lambda t: tf.math.rsqrt(t + 1.0))(x)
    model = keras.Model(inputs, outputs)

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(10):
            yield [rng.normal(size=(1, 8)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    path = cached_conversion("unsupported-rsqrt", _model_with_rsqrt)
    with pytest.raises(UserError, match=r"^op \d+ \(RSQRT\): not supported"):
        compiler.compile_model(path)
    result = subprocess.run(
        [sys.executable, "-m", "host.compiler", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"error: op \d+ \(RSQRT\)", lines[0]), result.stderr


def test_cli_writes_model_source(tmp_path: Path) -> None:
    path = zoo.model_file("mlperf-kws", "int8")
    result = subprocess.run(
        [sys.executable, "-m", "host.compiler", str(path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "arena 16000 bytes" in result.stdout
    source = (tmp_path / "model.cc").read_text()
    assert "tr_model_invoke" in source and "tr::DepthwiseConvS8" in source


def _compiles(source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """g++ with the engine's flags (-Wall -Wextra -Werror) on a model source, syntax only."""
    path = tmp_path / "model.cc"
    path.write_text(source)
    command = ["g++", *toolchain.CXX_FLAGS, "-fsyntax-only", f"-I{toolchain.ENGINE_DIR}", str(path)]
    return subprocess.run(command, capture_output=True, text=True)


DRIFTS = {
    # two fields in another order, as if kernels.h and the prepare module disagreed on it
    "reordered": (r"( +\.in_h = \S+\n)( +\.in_w = \S+\n)", r"\2\1", "designator order"),
    "misspelt": (r"\.in_h = ", ".in_height = ", "no non-static data member"),
    "missing": (r" +\.act_max = \S+\n", "", "missing initializer"),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_struct_field_drift_fails_the_build(drift: str, tmp_path: Path) -> None:
    """The generated model sets each kernel struct's fields by name (designated initializers),
    so a prepare module that disagrees with kernels.h on a field's name, order or presence
    fails the build instead of computing wrong values."""
    source = compiler.compile_model(zoo.model_file("mlperf-kws", "int8")).source
    assert _compiles(source, tmp_path).returncode == 0
    pattern, replacement, message = DRIFTS[drift]
    drifted, count = re.subn(pattern, replacement, source, count=1)
    assert count == 1
    result = _compiles(drifted, tmp_path)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]


def test_not_a_tflite_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(UserError):
        compiler.compile_model(bad)


# The Cortex-M4 build only in the slow run: every firmware build (test_device.py and others)
# compiles the same engine for the Cortex-M4 with the same flags and -Werror.
@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="no arm-none-eabi-g++")
@pytest.mark.parametrize("cpu", [pytest.param("cortex-m4", marks=pytest.mark.slow), "cortex-m7"])
def test_builds_for_cortex_m(cpu: str) -> None:
    path = zoo.model_file("mlperf-kws", "int8")
    size = compiler.arm_size(path, cpu)
    compiled = compiler.compile_model(path)
    assert size["flash"] > compiled.weight_bytes
    assert size["bss"] >= compiled.arena_bytes
