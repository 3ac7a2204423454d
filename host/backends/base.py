"""The one interface every backend implements, and the input quantization they all share.

A backend takes float images in [0,1] (NHWC batch) and returns its outputs. Integer backends
quantize the input exactly as the firmware's host side does (``quantize_input``), run the raw
integers and return raw integer outputs; ``dequantize_output`` turns them into float scores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from host.tflite import input_quantization


def round_half_away_from_zero(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (TFLite's ``TfLiteRound``)."""
    truncated = np.trunc(values)
    nearest = np.rint(values)  # ties to even; fix the exact ties below
    ties = np.abs(values - truncated) == 0.5
    return np.where(ties, truncated + np.sign(values), nearest)


def quantize_input(
    x01: np.ndarray, input_range: float, scale: float, zero_point: int, dtype: np.dtype
) -> np.ndarray:
    """Float [0,1] inputs to raw integers with TFLite's QUANTIZE reference semantics.

    v = float32(x01) * float32(input_range); q = round_half_away_from_zero(v / float32(scale))
    + zero_point, clipped to the range of ``dtype``. All arithmetic is float32. A float-input
    model (its first op a QUANTIZE) reads v itself.
    """
    values = np.asarray(x01, dtype=np.float32) * np.float32(input_range)
    if np.dtype(dtype).kind == "f":
        return values
    steps = round_half_away_from_zero(values / np.float32(scale))
    info = np.iinfo(dtype)
    q = steps.astype(np.int64) + int(zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


class Backend(ABC):
    """A model behind one call: float [0,1] NHWC batch in, outputs out.

    Integer backends set the input and output quantization attributes; the float backend keeps
    scale 1 and zero point 0 and overrides ``quantize``.
    """

    name: str  # "float", "litert-ref-int8", "litert-int8", "tflm-int8", "device-int8", ...
    precision: str  # "float", "int8", "int16"
    kernels: str  # "keras", "litert reference", "litert default", "tflite-micro <version>"
    input_range: float = 1.0  # the model takes pixels in [0, input_range]
    # The input quantization: of the input tensor, or for a float-input model of the QUANTIZE
    # that reads it (``use_model_input_quantization``), so that one step is always one step.
    input_scale: float = 1.0
    input_zero_point: int = 0
    input_dtype: np.dtype = np.dtype(np.float32)
    input_shape: tuple[int, ...] = ()  # one example, without the batch dimension
    output_scale: float = 1.0
    output_zero_point: int = 0

    # What a wrapper around a backend takes over from it: how inputs and outputs are mapped.
    IO_ATTRIBUTES = (
        "input_range",
        "input_scale",
        "input_zero_point",
        "input_dtype",
        "input_shape",
        "output_scale",
        "output_zero_point",
    )

    def take_io_from(self, inner: Backend) -> None:
        """Map inputs and outputs as ``inner`` does (a backend wrapped around it)."""
        for attribute in self.IO_ATTRIBUTES:
            setattr(self, attribute, getattr(inner, attribute))

    def quantize(self, x01: np.ndarray) -> np.ndarray:
        """Float [0,1] NHWC batch to the raw integers the model reads."""
        return quantize_input(
            x01, self.input_range, self.input_scale, self.input_zero_point, self.input_dtype
        )

    @abstractmethod
    def invoke(self, q: np.ndarray) -> np.ndarray:
        """The model on its own input type: integer batch in, integer outputs out (float for
        the float backend), as TFLite's ``Invoke`` computes them."""

    def run(self, x01: np.ndarray) -> np.ndarray:
        """Float [0,1] batch in: quantize as the board's host side does, then ``invoke``."""
        return self.invoke(self.quantize(x01))

    def use_model_input_quantization(self, content: bytes) -> None:
        """For a float-input model, take the input quantization of its first QUANTIZE op."""
        if self.input_dtype.kind == "f":
            _, self.input_scale, self.input_zero_point = input_quantization(content)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        """Raw outputs to float scores (a float-output model's outputs are scores already)."""
        if np.asarray(raw).dtype.kind == "f":
            return np.asarray(raw, dtype=np.float32)
        shifted = np.asarray(raw, dtype=np.float32) - np.float32(self.output_zero_point)
        return shifted * np.float32(self.output_scale)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.kernels})>"
