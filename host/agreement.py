"""Agreement between integer backends: identical raw outputs, integer steps apart, top-1 flips.

And first-divergence localisation: cut the graph after each op (``host.tflite_graph``), run two
host backends on the truncated models with the same raw inputs, and find the first op whose
outputs differ (TFLite Micro's layer-by-layer debugging idea).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

from host.backends.base import Backend
from host.tflite_graph import list_ops, truncate_after

# Builds a host backend for model bytes: (content, precision, input_range) -> Backend.
BytesFactory = Callable[[bytes, str, float], Backend]


@dataclass(frozen=True)
class Agreement:
    """How two backends' raw outputs compare on the same examples."""

    a: str
    b: str
    n: int
    identical_pct: float  # examples whose raw outputs are identical, all elements
    max_diff_steps: int  # largest absolute difference in integer steps
    top1_agree_pct: float
    top1_flips: int

    def as_dict(self) -> dict:
        return asdict(self)


def compare(name_a: str, raw_a: np.ndarray, name_b: str, raw_b: np.ndarray) -> Agreement:
    """Compare two raw integer output batches (first axis: examples)."""
    a = np.asarray(raw_a, dtype=np.int64).reshape(len(raw_a), -1)
    b = np.asarray(raw_b, dtype=np.int64).reshape(len(raw_b), -1)
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
    n = len(a)
    identical = np.all(a == b, axis=1)
    flips = int(np.sum(a.argmax(axis=1) != b.argmax(axis=1)))
    return Agreement(
        name_a,
        name_b,
        n,
        100.0 * float(identical.mean()) if n else 100.0,
        int(np.abs(a - b).max()) if a.size else 0,
        100.0 * (n - flips) / n if n else 100.0,
        flips,
    )


def integer_pairs(names: Iterable[str], precisions: dict[str, str]) -> list[tuple[str, str]]:
    """Every pair of integer backends of the same precision, in the given order."""
    integer = [name for name in names if precisions[name] != "float"]
    return [(a, b) for a, b in combinations(integer, 2) if precisions[a] == precisions[b]]


def pairwise(raw: dict[str, np.ndarray], precisions: dict[str, str]) -> list[Agreement]:
    """Agreement of every pair of integer backends of the same precision."""
    return [compare(a, raw[a], b, raw[b]) for a, b in integer_pairs(raw, precisions)]


@dataclass(frozen=True)
class OpAgreement:
    """Agreement of two backends on the output of one op (the graph cut after it)."""

    op_index: int
    op_name: str
    n: int
    identical_pct: float
    max_diff_steps: int

    def as_dict(self) -> dict:
        return asdict(self)


def localize(
    content: bytes,
    q: np.ndarray,
    factory_a: BytesFactory,
    factory_b: BytesFactory,
    precision: str,
    input_range: float = 1.0,
    progress: Callable[[Iterable], Iterable] = iter,
) -> list[OpAgreement]:
    """Per op: run both backends on the graph cut after it, on the same raw inputs ``q``."""
    rows = []
    for op in progress(list_ops(content)):
        truncated = truncate_after(content, op.index)
        out_a = factory_a(truncated, precision, input_range).predict_raw(q)
        out_b = factory_b(truncated, precision, input_range).predict_raw(q)
        result = compare("a", out_a, "b", out_b)
        rows.append(
            OpAgreement(op.index, op.name, result.n, result.identical_pct, result.max_diff_steps)
        )
    return rows


def first_divergence(rows: list[OpAgreement]) -> OpAgreement | None:
    """The first op whose outputs are not identical on every example (None: all agree)."""
    return next((row for row in rows if row.identical_pct < 100.0), None)
