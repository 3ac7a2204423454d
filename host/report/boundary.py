"""Decision-boundary distances and distortion distributions of a run, from its records, and
the boundary table as markdown.

A minimal-perturbation attack's record at eps "none" holds the distortion of what it found
(``crafted``) and of what the oracle received (``sent``), in float units and in input steps.
Over the successful examples only, per (model, attack, oracle): mean and median distance with
bootstrap 95 % intervals (``host.metrics.statistics``), the success share beside; and the
L0/L2/Linf quantiles of any attack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from host.metrics.statistics import bootstrap, quantiles
from host.records import AttackRecord
from host.report.sections import cell_key, group_by

NORMS = ("l0", "l2", "linf")


def _head(key: tuple, group: list[AttackRecord], hits: list[AttackRecord]) -> dict[str, Any]:
    model, attack, norm, mode, oracle, eps = key
    return {
        "model": model,
        "attack": attack,
        "attack_norm": norm,
        "mode": mode,
        "oracle": oracle,
        "eps": eps,
        "n": len(group),
        "successful": len(hits),
        "success_pct": 100.0 * len(hits) / len(group),
    }


def boundary_distances(
    records: Iterable[AttackRecord], norm: str = "l2", where: str = "sent", seed: int = 0
) -> list[dict[str, Any]]:
    """Per (model, minimal attack, oracle): the ``norm`` distance to the boundary of the
    successful examples (``where``: "sent" or "crafted"), float and steps, mean and median
    with bootstrap intervals, and the success share; ``step``: the input step the steps count
    (the campaign's reference step, in [0,1] units). An integer oracle's row also has
    ``ratio_to_float``: the median, over the examples both fooled, of its distance over the
    same attack's on the float oracle, with its interval (paired: the same examples)."""
    rows = []
    groups = group_by([r for r in records if r.eps == "none"], cell_key)
    for key, group in groups.items():
        hits = [r for r in group if r.oracle_success]
        row = {**_head(key, group, hits), "norm": norm, "step": group[0].reference_step}
        for unit in ("float", "steps"):
            values = [r.distortion[where][unit][norm] for r in hits if r.distortion[where][unit]]
            for name, stat in (("mean", np.mean), ("median", np.median)):
                interval = bootstrap(values, stat, seed=seed) if values else None
                row[f"{name}_{unit}"] = interval.to_dict() if interval else None
        reference = [g for k, g in groups.items() if k[:3] == key[:3] and k[4] == "float"]
        ratios = _ratios(hits, reference[0], norm, where) if reference and key[4] != "float" else []
        median = bootstrap(ratios, np.median, seed=seed) if ratios else None
        row["ratio_to_float"] = median.to_dict() if median else None
        rows.append(row)
    return rows


def _ratios(
    hits: list[AttackRecord], reference: list[AttackRecord], norm: str, where: str
) -> list[float]:
    """Per example fooled by both: its distance over the float oracle's (in float units)."""
    floats = {r.index: r.distortion[where]["float"][norm] for r in reference if r.oracle_success}
    return [
        r.distortion[where]["float"][norm] / floats[r.index]
        for r in hits
        if floats.get(r.index, 0) > 0
    ]


def distortion_quantiles(
    records: Iterable[AttackRecord], where: str = "sent"
) -> list[dict[str, Any]]:
    """Per (model, attack, oracle, eps): L0/L2/Linf quantiles of the successful examples'
    distortion, in float units and in steps."""
    rows = []
    for key, group in group_by(records, cell_key).items():
        hits = [r for r in group if r.oracle_success]
        row = _head(key, group, hits)
        for unit in ("float", "steps"):
            parts = [r.distortion[where][unit] for r in hits if r.distortion[where][unit]]
            row[unit] = {k: quantiles([p[k] for p in parts]) for k in NORMS}
        rows.append(row)
    return rows


def _interval(value: dict[str, Any] | None) -> str:
    if value is None:
        return "-"
    return f"{value['value']:.3g} [{value['low']:.3g}, {value['high']:.3g}]"


def boundary_markdown(rows: list[dict[str, Any]]) -> str:
    """One line per (model, minimal attack, oracle): L2 distance of what the oracle received,
    mean and median [95 % CI] over the successful examples, in float units and input steps,
    and over the float oracle's on the same examples (median ratio [95 % CI])."""
    if not rows:
        return ""
    head = ["model", "attack (norm)", "oracle", "success", "L2 mean (float)", "L2 median (float)",
            "L2 mean (steps)", "L2 median (steps)", "one step (float)",
            "over float (paired median)"]  # fmt: skip
    lines = [
        "### Decision-boundary distance (minimal attacks, successful examples, 95 % CI)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [
            row["model"],
            f"{row['attack']} ({row['attack_norm']})",
            row["oracle"],
            f"{row['successful']} of {row['n']}",
            *(_interval(row[f"{s}_{u}"]) for u in ("float", "steps") for s in ("mean", "median")),
            f"{row['step']:.3g}",
            _interval(row["ratio_to_float"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
