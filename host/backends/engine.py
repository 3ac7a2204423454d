"""The engine backend: tinyrobust's own engine, built for this machine as a shared library.

The same C++ kernels as the firmware (byte-exact with TFLite Micro), compiled by
``host.compiler.host_library`` with SIMD kernels for the CPU it runs on, loaded in-process with
ctypes. A batch is one call into the library, split over threads there (one arena per thread).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path

import numpy as np

from host import compiler
from host.backends.base import Backend
from host.compiler.emit import TensorType
from host.compiler.toolchain import BUILD_DIR, host_library_key
from host.errors import UserError

DTYPES: dict[TensorType, np.dtype] = {
    TensorType.INT8: np.dtype(np.int8),
    TensorType.INT16: np.dtype(np.int16),
    TensorType.FLOAT32: np.dtype("<f4"),
    TensorType.UINT8: np.dtype(np.uint8),
}


class _TensorInfo(ctypes.Structure):
    """``tr_tensor_info`` of engine.h."""

    _fields_ = [
        ("rank", ctypes.c_int32),
        ("dims", ctypes.c_int32 * 6),
        ("type", ctypes.c_int32),
        ("scale", ctypes.c_float),
        ("zero_point", ctypes.c_int32),
        ("bytes", ctypes.c_uint32),
    ]

    def shape(self) -> tuple[int, ...]:
        """One example's shape (the batch dimension left out)."""
        return tuple(int(d) for d in self.dims[1 : self.rank])


class _ModelInfo(ctypes.Structure):
    """``tr_model_info`` of engine.h."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("sha256", ctypes.c_uint8 * 32),
        ("arena_bytes", ctypes.c_uint32),
        ("weight_bytes", ctypes.c_uint32),
        ("input", _TensorInfo),
        ("output", _TensorInfo),
        ("op_count", ctypes.c_uint32),
    ]


def _model_path(model: str | Path | bytes) -> Path:
    """A file for the compiler: the path itself, or model bytes kept under build/engine/models/."""
    if not isinstance(model, bytes):
        return Path(model)
    path = BUILD_DIR / "models" / f"{hashlib.sha256(model).hexdigest()[:24]}.tflite"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(model)
        tmp.replace(path)
    return path


class EngineBackend(Backend):
    """A .tflite model compiled by the engine's compiler and run in-process.

    ``isa`` picks the library variant (default: ``$TINYROBUST_ENGINE_ISA``, else the fastest this
    CPU runs); ``threads`` splits each batch (default: all cores).
    """

    def __init__(
        self,
        model: str | Path | bytes,
        precision: str,
        input_range: float = 1.0,
        isa: str | None = None,
        threads: int | None = None,
    ):
        self.isa = compiler.chosen_isa(isa)
        self.threads = max(1, threads or os.cpu_count() or 1)
        model_file = _model_path(model)
        library = compiler.host_library(model_file, self.isa)
        self._library = ctypes.CDLL(str(library))
        self._invoke = self._library.tr_host_invoke_batch
        self._invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32]
        self._invoke.restype = ctypes.c_int
        info = _ModelInfo.in_dll(self._library, "tr_model")
        self.precision = precision
        self.input_range = float(input_range)
        self.name = f"engine-{precision}"
        key = host_library_key(self.isa)
        self.kernels = f"tinyrobust engine {key} ({self.isa}, {self.threads} threads)"
        self.input_dtype = DTYPES[TensorType(info.input.type)]
        self.input_shape = info.input.shape()
        self.input_scale, self.input_zero_point = float(info.input.scale), info.input.zero_point
        self.use_model_input_quantization(model_file.read_bytes())
        self._output_dtype = DTYPES[TensorType(info.output.type)]
        self._output_shape = info.output.shape()
        self.output_scale, self.output_zero_point = float(info.output.scale), info.output.zero_point
        self._input_bytes = int(info.input.bytes)

    def invoke(self, q: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(q, dtype=self.input_dtype)
        n = len(q)
        if q.nbytes != n * self._input_bytes:
            raise UserError(
                f"{self.name}: inputs of shape {q.shape[1:]} do not fit the model's "
                f"input {self.input_shape}"
            )
        out = np.empty((n, *self._output_shape), dtype=self._output_dtype)
        status = self._invoke(q.ctypes.data, out.ctypes.data, n, self.threads)
        if status != 0:
            raise UserError(f"{self.name}: the engine failed (status {status})")
        return out


def factory(path: Path, precision: str, input_range: float) -> EngineBackend:
    return EngineBackend(path, precision, input_range)
