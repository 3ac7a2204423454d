"""Bootstrap confidence intervals and quantiles (numpy, seeded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from host.errors import UserError

RESAMPLES = 2000
QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


@dataclass
class Interval:
    """A statistic with its percentile bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


def bootstrap(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., Any] = np.mean,
    resamples: int = RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """``statistic`` of ``values`` and its percentile bootstrap interval (``resamples`` draws
    with replacement, seeded). ``statistic`` takes an array and an ``axis``."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if len(data) == 0:
        raise UserError("a bootstrap interval needs at least one value")
    if not 0 < confidence < 1:
        raise UserError(f"confidence must be in (0, 1), got {confidence:g}")
    rng = np.random.default_rng(seed)
    draws = data[rng.integers(0, len(data), size=(resamples, len(data)))]
    stats = statistic(draws, axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return Interval(float(statistic(data)), float(low), float(high), len(data))


def quantiles(values: Sequence[float] | np.ndarray, qs: Sequence[float] = QUANTILES) -> dict:
    """The quantiles of ``values`` keyed ``q0``, ``q25``...; empty when there are none."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if len(data) == 0:
        return {}
    values = np.quantile(data, qs)
    return {f"q{round(100 * q):d}": float(v) for q, v in zip(qs, values, strict=True)}
