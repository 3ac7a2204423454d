"""TFLite Micro backend: the real TFLM kernels compiled for the host (the tflite-micro wheel).

TFLite Micro is the ground truth for what a device computes. It runs one example at a time.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime

from host.backends.base import Backend
from host.errors import UserError
from host.tflite import check_model_bytes, read_model_bytes


def tflm_version() -> str:
    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return "unknown"


class TflmBackend(Backend):
    """A .tflite model on the TFLite Micro Python interpreter; one interpreter, looped."""

    def __init__(self, model: str | Path | bytes, precision: str, input_range: float = 1.0):
        if isinstance(model, bytes):
            check_model_bytes(model)  # TFLM trusts its input: never give it a corrupt file
            content = model
        else:
            content = read_model_bytes(model)
        self.precision = precision
        self.input_range = float(input_range)
        self.name = f"tflm-{precision}"
        self.kernels = f"tflite-micro {tflm_version()}"
        try:
            self._interpreter = runtime.Interpreter.from_bytes(content)
        except (ValueError, RuntimeError) as error:
            raise UserError(f"TFLite Micro cannot load the model: {error}") from error
        inputs = self._interpreter.get_input_details(0)
        outputs = self._interpreter.get_output_details(0)
        self.input_dtype = np.dtype(inputs["dtype"])
        self.input_shape = tuple(int(d) for d in inputs["shape"][1:])
        self.input_scale, self.input_zero_point = _quantization(inputs)
        self.use_model_input_quantization(content)
        self.output_scale, self.output_zero_point = _quantization(outputs)
        self._batch = int(inputs["shape"][0])

    def invoke(self, q: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(q, dtype=self.input_dtype)
        outputs = []
        for start in range(0, len(q), self._batch):
            self._interpreter.set_input(q[start : start + self._batch], 0)
            self._interpreter.invoke()
            outputs.append(np.array(self._interpreter.get_output(0), copy=True))
        return np.concatenate(outputs)


def _quantization(details: dict) -> tuple[float, int]:
    params = details["quantization_parameters"]
    scales, zero_points = params["scales"], params["zero_points"]
    if len(scales) == 0:
        return 1.0, 0
    return float(scales[0]), int(zero_points[0])


def factory(path: Path, precision: str, input_range: float) -> TflmBackend:
    return TflmBackend(path, precision, input_range)
