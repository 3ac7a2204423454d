"""Backends behind one interface, and the registry that builds them by name.

A backend name is ``float`` or ``<kind>-<precision>``: ``litert-ref-int8``, ``litert-int16``,
``tflm-int8``, ``device-int8``. Each kind maps to a factory ``(path, precision, input_range)``
given as ``"module:function"`` and imported only when asked for, so a kind whose module is not
installed (or not written yet) costs nothing. New kinds are added to ``FACTORIES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from host import zoo
from host.backends.base import Backend, quantize_input
from host.errors import UserError

__all__ = [
    "CHUNK",
    "FACTORIES",
    "HOST_KINDS",
    "INTEGER_PRECISIONS",
    "Backend",
    "available_backends",
    "backend_for_file",
    "get_backend",
    "host_backend_for_bytes",
    "parse_name",
    "predict_in_chunks",
    "quantize_input",
]

Factory = Callable[[Path, str, float], Backend]

FACTORIES: dict[str, str] = {
    "float": "host.backends.keras_backend:factory",
    "litert-ref": "host.backends.litert:reference",
    "litert": "host.backends.litert:default",
    "tflm": "host.backends.tflm:factory",
    "device": "host.backends.device:factory",  # the board over UART (host/backends/device.py)
}
HOST_KINDS = ("litert-ref", "litert", "tflm")  # integer backends that run on this machine
INTEGER_PRECISIONS = ("int8", "int16")
CHUNK = 64  # examples per predict call: bounded memory, progress that moves


def parse_name(name: str) -> tuple[str, str]:
    """Split a backend name into (kind, precision); a UserError for an unknown one."""
    if name == "float":
        return "float", "float"
    kind, _, precision = name.rpartition("-")
    if kind not in FACTORIES or kind == "float" or precision not in INTEGER_PRECISIONS:
        suffix = "|".join(INTEGER_PRECISIONS)
        known = ", ".join(f"{k}-<{suffix}>" for k in FACTORIES if k != "float")
        raise UserError(f"unknown backend {name!r}; known: float, {known}")
    return kind, precision


def _factory(kind: str) -> Factory:
    module_name, _, attribute = FACTORIES[kind].partition(":")
    # Imported on demand: each kind pulls in its runtime (TensorFlow, LiteRT, TFLite Micro).
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"backend kind {kind!r} is not available here ({error})") from error
    return getattr(module, attribute)


def backend_for_file(name: str, path: str | Path, input_range: float = 1.0) -> Backend:
    """Build backend ``name`` for an explicit model file."""
    kind, precision = parse_name(name)
    backend = _factory(kind)(Path(path), precision, input_range)
    backend.name = name
    return backend


def get_backend(model_name: str, backend_name: str) -> Backend:
    """Build backend ``backend_name`` for a model of the zoo."""
    entry = zoo.spec(model_name)
    _, precision = parse_name(backend_name)
    return backend_for_file(backend_name, zoo.model_file(model_name, precision), entry.input_range)


def available_backends(model_name: str, kinds: tuple[str, ...] = HOST_KINDS) -> list[str]:
    """float and the host integer backends of ``kinds`` whose model file exists (or can be
    imported) for a zoo model."""
    zoo.spec(model_name)
    names = []
    for precision in ("float", *INTEGER_PRECISIONS):
        try:
            zoo.model_file(model_name, precision)
        except UserError:
            continue
        if precision == "float":
            names.append("float")
        else:
            names.extend(f"{kind}-{precision}" for kind in kinds)
    return names


def host_backend_for_bytes(kind: str) -> Callable[[bytes, str, float], Backend]:
    """A factory for model bytes (used to run truncated graphs) for a host integer kind."""
    if kind == "tflm":
        from host.backends.tflm import TflmBackend  # on demand, as in _factory

        return lambda content, precision, input_range: TflmBackend(content, precision, input_range)
    if kind in ("litert-ref", "litert"):
        from host.backends.litert import LiteRTBackend  # on demand, as in _factory

        reference = kind == "litert-ref"
        return lambda content, precision, input_range: LiteRTBackend(
            content, precision, input_range, reference=reference
        )
    raise UserError(f"backend kind {kind!r} cannot run truncated graphs (host kinds: {HOST_KINDS})")


def predict_in_chunks(
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
            outputs.append(backend.predict(chunk.astype(np.float32) / np.float32(255.0)))
        elif np.issubdtype(chunk.dtype, np.integer):
            outputs.append(backend.predict_raw(chunk))
        else:
            outputs.append(backend.predict(chunk))
    return np.concatenate(outputs)
