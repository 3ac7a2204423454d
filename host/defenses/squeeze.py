"""Feature squeezers on the input lattice: bit-depth reduction and median smoothing.

Both are defined on integers, so that the host and the firmware (firmware/app/defense.cc) give
the same bytes on every input. On an int8 image model (pixel 0 -> -128, pixel 1 -> 127) they
are the usual squeezers on 8-bit pixels; on any other input quantization they work on that
model's own lattice ``[lo, hi]`` (the raw values of pixels 0 and 1).

- ``bits<b>``: ``2^b`` levels over ``[lo, hi]``: t = q - lo (clipped to [0, span]),
  level = round_half_up(t * L / span) with L = 2^b - 1, out = lo + round_half_up(level *
  span / L), all in integers.
- ``median<k>``: the median of each channel's k x k window, the window covering rows
  i - k//2 .. i - k//2 + k - 1 (the same for columns), edges mirrored with the edge pixel
  repeated (d c b a | a b c d | d c b a), and for an even window count the upper median
  (element (k*k)//2 of the sorted window), as scipy.ndimage.median_filter computes it.
"""

from __future__ import annotations

import numpy as np

from host.defenses.base import Lattice, Preprocessor
from host.errors import UserError

MAX_BITS = 15  # an int16 lattice holds 2^15 levels
MEDIAN_SIZES = range(2, 6)


def _half_up_div(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """round_half_up(numerator / denominator) for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


class BitDepth(Preprocessor):
    """Bit-depth reduction to ``bits`` bits (Xu et al.'s first squeezer)."""

    on_lattice = True

    def __init__(self, bits: int) -> None:
        if not 1 <= bits <= MAX_BITS:
            raise UserError(f"bits{bits}: the bit depth must be 1..{MAX_BITS}")
        self.bits = bits
        self.name = f"bits{bits}"
        self.levels = 2**bits - 1

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x01, dtype=np.float64), 0.0, 1.0)
        return (np.floor(x * self.levels + 0.5) / self.levels).astype(np.float32)

    def raw(self, q: np.ndarray, lattice: Lattice) -> np.ndarray:
        q = np.asarray(q)
        t = np.clip(q.astype(np.int64) - lattice.lo, 0, lattice.span)
        level = _half_up_div(t * self.levels, lattice.span)
        out = lattice.lo + _half_up_div(level * lattice.span, self.levels)
        return out.astype(q.dtype)


def median_filter(x: np.ndarray, size: int) -> np.ndarray:
    """Per-channel median of every size x size window of an NHWC batch (any dtype)."""
    x = np.asarray(x)
    before = size // 2
    after = size - 1 - before
    pad = ((0, 0), (before, after), (before, after), (0, 0))
    padded = np.pad(x, pad, mode="symmetric")  # d c b a | a b c d | d c b a
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    flat = windows.reshape(*windows.shape[:4], size * size)
    rank = (size * size) // 2
    return np.partition(flat, rank, axis=-1)[..., rank]


class Median(Preprocessor):
    """Median smoothing over a ``size`` x ``size`` window (Xu et al.'s second squeezer; with
    size 3, ART's spatial smoothing)."""

    on_lattice = True

    def __init__(self, size: int) -> None:
        if size not in MEDIAN_SIZES:
            raise UserError(
                f"median{size}: the window must be {MEDIAN_SIZES.start}..{MEDIAN_SIZES.stop - 1}"
            )
        self.size = size
        self.name = f"median{size}"

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        return median_filter(np.asarray(x01, dtype=np.float32), self.size)

    def raw(self, q: np.ndarray, lattice: Lattice) -> np.ndarray:
        return median_filter(np.asarray(q), self.size)
