"""The decision-boundary table of a run: minimal attacks' distances with bootstrap intervals
(``host.metrics.boundary``), as markdown."""

from __future__ import annotations

from typing import Any


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
