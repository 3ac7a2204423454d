"""Small shims that let ART 1.20.1 run on NumPy 2 (documented in docs/attacks.md)."""

from __future__ import annotations

import numpy as np


def numpy_mat() -> None:
    """GeoDA calls ``np.mat``, removed in NumPy 2.0; ``np.asmatrix`` is the same function."""
    if not hasattr(np, "mat"):
        np.mat = np.asmatrix  # type: ignore[attr-defined]  # absent from NumPy 2
