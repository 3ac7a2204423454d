"""The project's threat model: eps units, the [0,1] box, the integer input lattice, distortion.

Attacks work on float images in [0,1]. Integer targets never see those floats: the firmware's
host side quantizes them (``Backend.quantize``), so an adversarial example is what survives that
mapping onto the integer input lattice. Distortion is measured before the mapping (what the
attack produced) and after it (what the target received), in float units and in input
quantization steps.
"""

from __future__ import annotations

import numpy as np

from host.backends.base import quantize_input
from host.errors import UserError

NORMS = ("linf", "l2", "l1", "l0")
_ORDER = {"linf": np.inf, "l2": 2, "l1": 1, "l0": 0}


def norm_order(norm: str) -> float:
    """The numeric order of a norm name (``linf`` -> inf), as ART expects it."""
    if norm not in _ORDER:
        raise UserError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    return _ORDER[norm]


def step_of(backend) -> float:
    """One input quantization step of a backend in [0,1] units (0.0 for a float backend)."""
    if backend.precision == "float":
        return 0.0
    return float(backend.input_scale) / float(backend.input_range)


def eps_from_steps(steps: float, step: float) -> float:
    """An eps given in input quantization steps, in [0,1] units."""
    if step <= 0:
        raise UserError("eps in quantization steps needs an integer backend to define the step")
    return float(steps) * step


def check_eps(values: list[float], norm: str | None = None) -> list[float]:
    """Eps values must be finite and >= 0, and at most 1 in the ``linf`` norm (a change per
    pixel in [0,1] units: 1 moves a pixel across the whole range; eps 0 keeps the originals)."""
    for value in values:
        if not np.isfinite(value) or value < 0:
            raise UserError(f"eps must be a finite number >= 0, got {value:g}")
        if norm == "linf" and value > 1:
            raise UserError(f"eps must be in [0, 1] for linf (a change per pixel), got {value:g}")
    return [float(v) for v in values]


def clip01(x: np.ndarray) -> np.ndarray:
    """Clip to the valid image box [0,1] (float32)."""
    return np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)


def project(x_adv: np.ndarray, x: np.ndarray, norm: str, eps: float | None) -> np.ndarray:
    """Bring x_adv into the eps ball around x (and the box).

    Linf clips each feature; L2 and L1 rescale the perturbation (a point inside the ball, the exact
    projection for L2); L0 keeps the eps largest changes per example.
    """
    x_adv = clip01(x_adv)
    if eps is None:
        return x_adv
    delta = (x_adv - x).reshape(len(x), -1)
    if norm == "linf":
        delta = np.clip(delta, -eps, eps)
    elif norm in ("l2", "l1"):
        sizes = np.linalg.norm(delta, ord=2 if norm == "l2" else 1, axis=1, keepdims=True)
        factor = np.minimum(1.0, eps / np.maximum(sizes, 1e-12))
        delta = delta * factor
    elif norm == "l0":
        keep = int(eps)
        order = np.argsort(-np.abs(delta), axis=1)
        mask = np.zeros_like(delta, dtype=bool)
        np.put_along_axis(mask, order[:, :keep], True, axis=1)
        delta = np.where(mask, delta, 0.0)
    else:
        norm_order(norm)
    return clip01(x + delta.reshape(x.shape).astype(np.float32))


def to_lattice(backend, x01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What an integer backend receives: (raw integers, their value back in [0,1] units).

    The float backend receives the float image itself (returned twice).
    """
    if backend.precision == "float":
        x = clip01(x01)
        return x, x
    q = backend.quantize(x01)
    lattice = q
    if q.dtype.kind == "f":  # a float-input model: its first op, a QUANTIZE, rounds q itself
        dtype = np.dtype(np.int8 if backend.precision == "int8" else np.int16)
        lattice = quantize_input(
            x01, backend.input_range, backend.input_scale, backend.input_zero_point, dtype
        )
    shifted = lattice.astype(np.float64) - float(backend.input_zero_point)
    values = shifted * float(backend.input_scale) / float(backend.input_range)
    return q, values.astype(np.float32)


def norms(delta: np.ndarray) -> dict[str, np.ndarray]:
    """L0, L1, L2 and Linf of each example's perturbation (float64)."""
    flat = np.asarray(delta, dtype=np.float64).reshape(len(delta), -1)
    return {
        "l0": np.count_nonzero(flat, axis=1).astype(np.float64),
        "l1": np.abs(flat).sum(axis=1),
        "l2": np.sqrt((flat**2).sum(axis=1)),
        "linf": np.abs(flat).max(axis=1) if flat.shape[1] else np.zeros(len(flat)),
    }


def distortion(x: np.ndarray, x_adv: np.ndarray, step: float) -> list[dict]:
    """Per example: norms in float units and in quantization steps (``step`` in [0,1] units).

    L0 counts changed features in both. Steps are absent (None) when ``step`` is 0 (float).
    """
    values = norms(np.asarray(x_adv, np.float64) - np.asarray(x, np.float64))
    rows = []
    for i in range(len(x)):
        floats = {k: float(v[i]) for k, v in values.items()}
        if step > 0:
            steps = {k: (v if k == "l0" else v / step) for k, v in floats.items()}
        else:
            steps = None
        rows.append({"float": floats, "steps": steps})
    return rows


def lattice_distortion(backend, x: np.ndarray, x_adv: np.ndarray) -> list[dict]:
    """Distortion after mapping onto an integer backend's lattice: integer steps and float units."""
    q_clean, _ = to_lattice(backend, x)
    q_adv, _ = to_lattice(backend, x_adv)
    delta_steps = q_adv.astype(np.int64) - q_clean.astype(np.int64)
    step = step_of(backend)
    in_steps = norms(delta_steps)
    rows = []
    for i in range(len(x)):
        steps = {k: float(v[i]) for k, v in in_steps.items()}
        floats = {k: (v if k == "l0" else v * step) for k, v in steps.items()}
        rows.append({"float": floats, "steps": steps})
    return rows


def finite_difference_step(requested: float, step: float) -> float:
    """A finite-difference step against an oracle: at least one of its input steps.

    Below one step, x + h and x - h quantize to the same integers and every estimated gradient is
    zero by construction (the flaw of the seed paper's artifact).
    """
    return max(float(requested), float(step))
