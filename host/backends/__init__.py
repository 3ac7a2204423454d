"""Backends behind one interface, and the registry that builds them by name.

A backend name is ``float`` or ``<runtime>-<precision>``: ``litert-ref-int8``, ``litert-int16``,
``tflm-int8``, ``engine-int8``, ``device-int8``. Each runtime maps to a factory ``(path,
precision, input_range)`` given as ``"module:function"`` and imported only when asked for, so a
runtime whose module is not installed (or not written yet) costs nothing. New runtimes are added
to ``FACTORIES``.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from host import compiler, zoo
from host.backends.base import Backend, quantize_input
from host.errors import UserError

__all__ = [
    "CHUNK",
    "FACTORIES",
    "HOST_RUNTIMES",
    "INTEGER_PRECISIONS",
    "Backend",
    "available_backends",
    "backend_for_file",
    "engine_compiles",
    "exact_runtime",
    "get_backend",
    "host_backend_for_bytes",
    "host_runtimes",
    "oracle_backends",
    "parse_name",
    "run_in_chunks",
    "quantize_input",
]

Factory = Callable[[Path, str, float], Backend]

FACTORIES: dict[str, str] = {
    "float": "host.backends.keras_backend:factory",
    "litert-ref": "host.backends.litert:reference",
    "litert": "host.backends.litert:default",
    "tflm": "host.backends.tflm:factory",
    "engine": "host.backends.engine:factory",  # the own engine, in-process (TFLite Micro exact)
    "device": "host.backends.device:factory",  # the board over UART (host/backends/device.py)
}
# Integer backends that run on this machine.
HOST_RUNTIMES = ("litert-ref", "litert", "tflm", "engine")
INTEGER_PRECISIONS = ("int8", "int16")
CHUNK = 64  # examples per call: bounded memory, progress that moves


def parse_name(name: str) -> tuple[str, str]:
    """Split a backend name into (runtime, precision); a UserError for an unknown one."""
    if name == "float":
        return "float", "float"
    runtime, _, precision = name.rpartition("-")
    if runtime not in FACTORIES or runtime == "float" or precision not in INTEGER_PRECISIONS:
        suffix = "|".join(INTEGER_PRECISIONS)
        known = ", ".join(f"{k}-<{suffix}>" for k in FACTORIES if k != "float")
        raise UserError(f"unknown backend {name!r}; known: float, {known}")
    return runtime, precision


def _factory(runtime: str) -> Factory:
    module_name, _, attribute = FACTORIES[runtime].partition(":")
    # Imported on demand: each runtime pulls in its library (TensorFlow, LiteRT, TFLite Micro).
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"backend runtime {runtime!r} is not available here ({error})") from error
    return getattr(module, attribute)


def backend_for_file(name: str, path: str | Path, input_range: float = 1.0) -> Backend:
    """Build backend ``name`` for an explicit model file."""
    runtime, precision = parse_name(name)
    backend = _factory(runtime)(Path(path), precision, input_range)
    backend.name = name
    return backend


def get_backend(model_name: str, backend_name: str) -> Backend:
    """Build backend ``backend_name`` for a model (a zoo name or a user's model, ``host.zoo``)."""
    entry = zoo.spec(model_name)
    _, precision = parse_name(backend_name)
    return backend_for_file(backend_name, zoo.model_file(model_name, precision), entry.input_range)


@functools.cache
def engine_compiles(path: Path) -> bool:
    """Whether the engine compiles a model file; when it does not, one printed note says why."""
    try:
        compiler.compile_model(path)
    except UserError as error:
        print(f"note: the engine cannot run {path.name} ({error}): tflm instead", file=sys.stderr)
        return False
    return True


def host_runtimes(path: Path, runtimes: tuple[str, ...] = HOST_RUNTIMES) -> list[str]:
    """``runtimes`` that can run a model file: the engine only where it compiles the model."""
    return [r for r in runtimes if r != "engine" or engine_compiles(Path(path))]


def exact_runtime(path: Path) -> str:
    """The runtime giving TFLite Micro's exact answer for a model file: the engine (fast) where
    it compiles the model, else the tflite-micro wheel."""
    return "engine" if engine_compiles(Path(path)) else "tflm"


def available_backends(model_name: str, runtimes: tuple[str, ...] = HOST_RUNTIMES) -> list[str]:
    """float and the host integer backends of ``runtimes`` whose model file exists (or can be
    imported or derived) for a model; the engine only where it compiles the model."""
    zoo.spec(model_name)
    names = []
    for precision in ("float", *INTEGER_PRECISIONS):
        if not zoo.has_file(model_name, precision):
            continue
        if precision == "float":
            names.append("float")
        else:
            path = zoo.model_file(model_name, precision)
            names.extend(f"{runtime}-{precision}" for runtime in host_runtimes(path, runtimes))
    return names


def oracle_backends(model_name: str) -> list[str]:
    """float and, for every precision the model has, TFLite Micro's exact answer: ``engine-<p>``,
    or ``tflm-<p>`` where the engine cannot compile the model."""
    names = []
    for name in available_backends(model_name, runtimes=("tflm",)):
        if name != "float":
            precision = parse_name(name)[1]
            name = f"{exact_runtime(zoo.model_file(model_name, precision))}-{precision}"
        names.append(name)
    return names


def host_backend_for_bytes(runtime: str) -> Callable[[bytes, str, float], Backend]:
    """A factory for model bytes (used to run truncated graphs) for a host integer runtime."""
    if runtime == "tflm":
        from host.backends.tflm import TflmBackend  # on demand, as in _factory

        return TflmBackend
    if runtime == "engine":
        from host.backends.engine import EngineBackend  # on demand, as in _factory

        return EngineBackend
    if runtime in ("litert-ref", "litert"):
        from host.backends.litert import LiteRTBackend  # on demand, as in _factory

        reference = runtime == "litert-ref"
        return lambda content, precision, input_range: LiteRTBackend(
            content, precision, input_range, reference=reference
        )
    raise UserError(
        f"backend runtime {runtime!r} cannot run truncated graphs (host runtimes: {HOST_RUNTIMES})"
    )


def run_in_chunks(
    backend: Backend,
    x: np.ndarray,
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> np.ndarray:
    """Raw outputs for a whole batch, ``CHUNK`` examples per call (``progress`` wraps the loop).

    ``x`` is float in [0,1], uint8 pixels (scaled to [0,1] chunk by chunk), or the model's own
    integer inputs (e.g. kws features), sent as they are.
    """
    outputs = []
    for start in progress(range(0, len(x), CHUNK)):
        chunk = x[start : start + CHUNK]
        if chunk.dtype == np.uint8:
            outputs.append(backend.run(chunk.astype(np.float32) / np.float32(255.0)))
        elif np.issubdtype(chunk.dtype, np.integer):
            outputs.append(backend.invoke(chunk))
        else:
            outputs.append(backend.run(chunk))
    return np.concatenate(outputs)
