"""What every pre-processing defense is: a Preprocessor, and the input lattice it may work on.

A defense transforms the inputs before the model sees them. Every one works on float [0,1]
pixels (``pixels``: the float model, and the forward pass of adaptive attacks); a lattice
defense also works on the raw integers the integer model reads (``raw``), which is what the
board runs byte for byte when its firmware is built with the defense.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from host.backends import quantize_input


@dataclass(frozen=True)
class Lattice:
    """The raw input values of pixel 0 and pixel 1: a model's input quantization on [0,1]."""

    lo: int
    hi: int

    @property
    def span(self) -> int:
        return self.hi - self.lo


def input_lattice(input_range: float, scale: float, zero_point: int, dtype: np.dtype) -> Lattice:
    """The lattice of an input quantization: pixels 0 and 1 quantized as every integer backend
    (and the board's host side) quantizes them."""
    pixels = np.array([0.0, 1.0], dtype=np.float32)
    ends = quantize_input(pixels, input_range, scale, zero_point, dtype)
    return Lattice(int(ends[0]), int(ends[1]))


class Preprocessor(ABC):
    """One pre-processing defense, named as it is written after a '+' in a backend name."""

    name: str  # "bits5", "median2", ...
    on_lattice: bool = False  # ``raw`` is defined: the integer models (and the board) run it
    random: bool = False  # a random transform (adaptive attacks take an expectation over it)
    detector: bool = False  # flags inputs instead of transforming them (``squeeze``)

    @abstractmethod
    def pixels(self, x01: np.ndarray) -> np.ndarray:
        """The defense on a float [0,1] NHWC batch (float32 out, same shape)."""

    def raw(self, q: np.ndarray, lattice: Lattice) -> np.ndarray:
        """The defense on the raw integers an integer model reads (same dtype and shape)."""
        raise NotImplementedError(f"{self.name} works on pixels, not on the integer lattice")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
