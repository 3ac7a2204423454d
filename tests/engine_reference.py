"""TFLite Micro's reference outputs for the engine's exactness tests, and the models and inputs
they share (tests/test_engine.py, tests/test_x86_kernels.py): converted models and reference
outputs are cached under build/engine-tests/."""

from __future__ import annotations

import hashlib
import importlib.metadata
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from host import compiler, data, tflite, zoo
from host.backends.engine import EngineBackend

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / "build" / "engine-tests"
N_REAL = 300
N_RANDOM = 300
# Each exactness test runs on the portable build and on the default ISA's (x86 SIMD kernels).
EACH_ISA = pytest.mark.parametrize("isa", ["portable", None], ids=["portable", "default"])


@dataclass
class Variant:
    name: str
    precision: str
    path: Path
    dataset: str | None  # data set of the real inputs (None: the synthetic model's CIFAR-10)


def cached_conversion(key: str, make) -> Path:
    """A converted .tflite, made once and kept under build/ (TF conversion takes seconds)."""
    path = CACHE / f"{key}.tflite"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(make())
        tmp.replace(path)
    return path


def calibration_images(n: int = 100) -> np.ndarray:
    x = data.load("cifar10", "train").x
    return x[np.random.default_rng(7).choice(len(x), n, replace=False)]


def tflm_interpreter(path: Path):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(path.read_bytes())


def real_inputs(v: Variant, details: dict) -> np.ndarray:
    """At least N_REAL real examples, quantized with the model's input scale and zero point."""
    dtype = details["dtype"]
    if v.dataset == "kws":
        return data.load("kws", "eval").x[:N_REAL].astype(dtype)
    if v.dataset in (None, "cifar10"):
        test = data.load("cifar10", "test").x
        extra = data.load("cifar10", "train").x[: max(0, N_REAL - len(test))]
        pixels = np.concatenate([test, extra])
    else:
        split = zoo.spec(v.name).eval_split
        pixels = data.load(v.dataset, split).x[:N_REAL]
    input_range = zoo.spec(v.name).input_range if v.name in zoo.ZOO else 1.0
    scale = float(details["quantization_parameters"]["scales"][0])
    zero_point = int(details["quantization_parameters"]["zero_points"][0])
    values = pixels.astype(np.float64) / 255.0 * input_range
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def random_inputs(details: dict) -> np.ndarray:
    info = np.iinfo(details["dtype"])
    shape = (N_RANDOM, *details["shape"][1:])
    rng = np.random.default_rng(2024)
    return rng.integers(info.min, info.max + 1, size=shape, dtype=details["dtype"])


def tflm_run(path: Path, inputs: np.ndarray) -> np.ndarray:
    interpreter = tflm_interpreter(path)
    outputs = []
    for example in inputs:
        interpreter.set_input(example[np.newaxis], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0).reshape(-1).copy())
    return np.stack(outputs)


def tflm_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """TFLite Micro's raw outputs, one invoke per example (cached: model, inputs, wheel)."""
    key = hashlib.sha256(path.read_bytes())
    key.update(inputs.tobytes())
    key.update(importlib.metadata.version("tflite-micro").encode())
    cached = CACHE / f"reference-{key.hexdigest()[:24]}.npy"
    if cached.is_file():
        return np.load(cached)
    chunks = np.array_split(inputs, 2)  # two processes: the wheel runs one example at a time
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
        result = np.concatenate(list(pool.map(tflm_run, [path] * len(chunks), chunks)))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, result)
    return result


def op_names(path: Path) -> set[str]:
    """The builtin op names in a converted model."""
    return {op.name for op in tflite.list_ops(path.read_bytes())}


def assert_engine_exact(v: Variant, isa: str | None) -> None:
    """The engine (``isa``; None: the default) gives TFLite Micro's raw outputs on real and
    random inputs, and the real inputs do not all give one output."""
    details = tflm_interpreter(v.path).get_input_details(0)
    inputs = np.concatenate([real_inputs(v, details), random_inputs(details)])
    ours = EngineBackend(v.path, v.precision, isa=isa).invoke(inputs).reshape(len(inputs), -1)
    reference = tflm_outputs(v.path, inputs)
    mismatches = np.flatnonzero(np.any(ours != reference, axis=1))
    assert len(mismatches) == 0, f"{len(mismatches)} examples differ, first {mismatches[0]}"
    assert len(np.unique(ours[:N_REAL], axis=0)) > 1


def tflm_arena_bytes(path: Path) -> dict[str, int]:
    """TFLite Micro's arena use for a model on this host (print_allocations of the wheel)."""
    code = (
        "import sys\n"
        "from tflite_micro.python.tflite_micro import runtime\n"
        "runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read()).print_allocations()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    text = result.stdout + result.stderr
    found = {}
    for key in ("total", "head", "tail"):
        match = re.search(rf"Arena allocation {key} (\d+) bytes", text)
        assert match, text[-2000:]
        found[key] = int(match.group(1))
    return found


def assert_arena_not_larger(path: Path) -> None:
    """The engine's arena for a model is no larger than TFLite Micro's."""
    ours, theirs = compiler.compile_model(path).arena_bytes, tflm_arena_bytes(path)["total"]
    assert ours <= theirs, f"arena {ours} B > TFLite Micro's {theirs} B"


def edited(content: bytes, edit: Callable) -> bytes:
    """A .tflite model with ``edit(model)`` applied to its parsed form."""
    model = tflite.check_model_bytes(content)
    edit(model)
    return tflite.model_bytes(model)


def convert_keras(make: Callable, precision: str, **options) -> bytes:
    """``make()``'s Keras model converted (int8 or int16x8, ``options`` of quantize.convert),
    calibrated on CIFAR-10 training images."""
    from host import quantize  # TensorFlow loads only when a model must be converted

    calibration = (calibration_images() / 255.0).astype(np.float32)
    clear_keras_names()
    return quantize.convert(make(), calibration, precision, **options)


def clear_keras_names() -> None:
    """Restart Keras' layer names: the converter's output depends on them (a model built after
    others in one process got a MAX_POOL_2D left in float, a DEQUANTIZE mid-graph)."""
    import keras

    keras.backend.clear_session()


# An op test's models: name -> (Keras model maker, ops the converted model must hold, precisions)
OpModels = dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]]


def op_model_fixture(models: OpModels):
    """A module-scoped ``model`` fixture: each (name, precision) of ``models``, converted once
    and cached as build/engine-tests/ops-<name>-<precision>.tflite."""

    @pytest.fixture(
        scope="module",
        params=[(name, p) for name, (_, _, precisions) in models.items() for p in precisions],
        ids=lambda param: f"{param[0]}-{param[1]}",
    )
    def model(request, data_dir) -> Variant:
        name, precision = request.param
        return Variant(name, precision, op_model_path(models, name, precision), None)

    return model


def op_model_path(models: OpModels, name: str, precision: str) -> Path:
    """Model ``name`` of ``models`` converted to ``precision`` (cached)."""
    make = models[name][0]
    return cached_conversion(f"ops-{name}-{precision}", lambda: convert_keras(make, precision))


def assert_op_model_exact(models: OpModels, v: Variant, isa: str | None) -> None:
    """The converted model holds its ops, and the engine gives TFLite Micro's outputs."""
    assert set(models[v.name][1]) <= op_names(v.path), op_names(v.path)
    assert_engine_exact(v, isa)


needs_board = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)


def assert_board_exact(path: Path, inputs: np.ndarray, dataset: str = "cifar10") -> list:
    """``path``'s firmware on the emulated Cortex-M4 (QEMU mps2-an386) answers ``inputs`` with
    TFLite Micro's raw outputs, bit for bit, and each argmax is its output's; the results."""
    from host.board import firmware, qemu  # the board stack loads only for board tests
    from host.board.client import Device

    image = firmware.build(zoo.declare_file(path, dataset, "int8"), "qemu-an386")
    emulator = qemu.Emulator(image.board.qemu_machine, image.elf).start()
    try:
        with Device(emulator.url) as device:
            assert device.info.input.dtype == inputs.dtype
            results = device.infer(inputs)
    finally:
        emulator.stop()
    assert all(r.status == 0 and r.count > 0 for r in results)
    ours = np.stack([r.output.reshape(-1) for r in results])
    reference = tflm_run(path, inputs)
    assert ours.dtype == reference.dtype
    assert ours.tobytes() == reference.tobytes()
    assert [r.argmax for r in results] == list(np.argmax(reference, axis=1))
    return results


def assert_board_exact_on_samples(v: Variant, n: int = 3) -> None:
    """``assert_board_exact`` on ``n`` real and ``n`` random inputs of an int8 model."""
    details = tflm_interpreter(v.path).get_input_details(0)
    inputs = np.concatenate([real_inputs(v, details)[:n], random_inputs(details)[:n]])
    assert_board_exact(v.path, inputs)
