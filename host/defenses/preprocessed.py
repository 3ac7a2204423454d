"""A backend with pre-processing defenses in front: ``engine-int8+bits5``, ``float+jpeg75``.

``DefendedBackend`` wraps any backend (same name plus the suffix, same precision and
quantization) and applies its defenses left to right before the model. On an integer backend a
lattice defense works on the raw integers the model reads (``Preprocessor.raw``, what the
firmware computes byte for byte) and a pixel defense on [0,1] pixels before quantizing; on the
float backend every defense works on pixels. A board (``device-*``) runs its lattice defenses
in the firmware: the board's HELLO must name exactly the requested ones, and the host applies
only the pixel defenses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from host.backends import Backend, quantize_input
from host.defenses.base import Lattice, Preprocessor, input_lattice
from host.errors import UserError


def integer_dtype(backend: Backend) -> np.dtype:
    """The integer type of a backend's input lattice (a float-input model's first QUANTIZE's)."""
    if np.dtype(backend.input_dtype).kind != "f":
        return np.dtype(backend.input_dtype)
    return np.dtype(np.int8 if backend.precision == "int8" else np.int16)


def lattice_of(backend: Backend) -> Lattice:
    """The raw input values of pixels 0 and 1 of an integer backend (its input quantization)."""
    return input_lattice(
        backend.input_range, backend.input_scale, backend.input_zero_point, integer_dtype(backend)
    )


def is_detector(defense: Preprocessor) -> bool:
    """A detector (``squeeze``) flags inputs instead of transforming them."""
    return defense.detector


def on_board(backend: Backend) -> bool:
    return backend.name.startswith("device-")


def check_board(backend: Backend, defenses: Sequence[Preprocessor]) -> None:
    """A board must run exactly the requested lattice defenses in its firmware, and no pixel
    defense may come after one of them (the host could not apply it in between)."""
    if not on_board(backend):
        return
    wanted = tuple(d.name for d in defenses if d.on_lattice)
    running = tuple(getattr(backend, "firmware_defenses", ()))
    if running != wanted:
        flash = f"make flash DEFENSE={'+'.join(wanted)}" if wanted else "make flash"
        runs = "+".join(running) or "no defense"
        asked = "+".join(wanted) or "none"
        name = backend.name + "".join(f"+{d.name}" for d in defenses)
        raise UserError(
            f"the board's firmware runs {runs}, {name} asks for {asked}: rebuild it with `{flash}`"
        )
    seen_lattice = False
    for defense in defenses:
        seen_lattice = seen_lattice or defense.on_lattice
        if seen_lattice and not defense.on_lattice and not is_detector(defense):
            raise UserError(
                f"{defense.name} comes after a defense the board runs; on the board, put the "
                "pixel defenses first"
            )


class DefendedBackend(Backend):
    """A backend with pre-processing defenses applied before its model, left to right."""

    def __init__(self, inner: Backend, defenses: Sequence[Preprocessor]) -> None:
        check_board(inner, defenses)
        self.inner = inner
        self.defenses = tuple(defenses)
        self.name = inner.name + "".join(f"+{d.name}" for d in self.defenses)
        self.precision = inner.precision
        self.kernels = f"{inner.kernels} + {'+'.join(d.name for d in self.defenses)}"
        self.take_io_from(inner)
        self.integer = inner.precision != "float"
        self.lattice = lattice_of(inner) if self.integer else None
        board = on_board(inner)
        # What the host applies: not the detector (it transforms nothing), not what a board runs.
        self.steps = tuple(
            d for d in self.defenses if not is_detector(d) and not (board and d.on_lattice)
        )

    def __getattr__(self, name: str) -> Any:
        """Anything else (a board's ``device``, ``url``, ``last_counts``) is the inner's."""
        if name == "inner":  # not set yet (while unpickling, say)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        """Every transforming defense on float [0,1] pixels (the float model's view)."""
        x = np.asarray(x01, dtype=np.float32)
        for defense in self.defenses:
            if not is_detector(defense):
                x = defense.pixels(x)
        return x

    def lattice_input(self, x01: np.ndarray | None, q: np.ndarray | None = None) -> np.ndarray:
        """The raw integers after the host's defenses (integer backends), from pixels ``x01``
        or from raw integers ``q``."""
        assert self.lattice is not None  # integer backends only
        x = None if x01 is None else np.asarray(x01, dtype=np.float32)
        for defense in self.steps:
            if defense.on_lattice:
                q = self._quantize(x) if q is None else q
                q = defense.raw(q, self.lattice)
            else:
                x = self._pixels(x, q)
                q = None
                x = defense.pixels(x)
        return self._quantize(x) if q is None else q

    def _pixels(self, x01: np.ndarray | None, q: np.ndarray | None) -> np.ndarray:
        """The pixels: raw integers ``q`` back to [0,1] (exact on the lattice), else ``x01``."""
        if q is None:
            assert x01 is not None  # lattice_input starts from one of them
            return x01
        shifted = q.astype(np.float64) - float(self.input_zero_point)
        return (shifted * float(self.input_scale) / float(self.input_range)).astype(np.float32)

    def _quantize(self, x01: np.ndarray | None) -> np.ndarray:
        assert x01 is not None  # pixels, when no integers are there
        values = (self.input_range, self.input_scale, self.input_zero_point)
        return quantize_input(x01, *values, integer_dtype(self))

    def feed(self, q: np.ndarray) -> np.ndarray:
        """Lattice integers as the inner model reads them (a float-input model: their value,
        which its first QUANTIZE maps back onto the same integers)."""
        if np.dtype(self.inner.input_dtype).kind != "f":
            return q
        return (
            (q.astype(np.float32) - np.float32(self.input_zero_point))
            * np.float32(self.input_scale)
        ).astype(np.float32)

    def run(self, x01: np.ndarray) -> np.ndarray:
        if not self.integer:
            return self.inner.run(self.pixels(x01))
        return self.inner.invoke(self.feed(self.lattice_input(x01)))

    def invoke(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q)
        if not self.integer or q.dtype.kind == "f":  # the model's float input: pixels * range
            return self.run(q.astype(np.float32) / np.float32(self.input_range))
        return self.inner.invoke(self.feed(self.lattice_input(None, q)))

    def close(self) -> None:
        closer = getattr(self.inner, "close", None)
        if closer is not None:
            closer()
