"""Float Keras backend: the model before quantization, batched."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from host.backends.base import Backend
from host.zoo import keras_file  # this module is imported on demand (host.backends.FACTORIES)

BATCH = 256


class KerasBackend(Backend):
    """A float Keras model (.keras or Keras 2 .h5, read by ``host.zoo.keras_file``); inputs are
    x01 * input_range, outputs float scores."""

    name = "float"
    precision = "float"
    kernels = "keras"

    def __init__(self, path: str | Path, input_range: float = 1.0) -> None:
        self.kernels = f"keras {keras.__version__}"
        self.input_range = float(input_range)
        self._model = keras_file.load(path)
        self.input_shape = tuple(int(d) for d in self._model.input_shape[1:])

    def quantize(self, x01: np.ndarray) -> np.ndarray:
        """The float model's input: pixels in [0, input_range], float32."""
        return np.asarray(x01, dtype=np.float32) * np.float32(self.input_range)

    def invoke(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict(q, batch_size=BATCH, verbose=0), dtype=np.float32)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype=np.float32)


def factory(path: Path, precision: str, input_range: float) -> KerasBackend:
    return KerasBackend(path, input_range)
