"""Summary statistics of a campaign, from its records only."""

from __future__ import annotations

from typing import Any

import numpy as np

from host.records import AttackRecord

Row = dict[str, Any]  # one (attack, eps): as written to summary.json


def summarise(records: list[AttackRecord], backends: list[str]) -> list[Row]:
    """One row per (attack, eps): accuracy per backend, distortion, transfer rates, queries."""
    groups: dict[tuple, list[AttackRecord]] = {}
    for record in records:
        groups.setdefault((record.attack, record.norm, record.eps), []).append(record)
    rows = []
    for (attack, norm, eps), group in groups.items():
        crafted_l2 = np.array([r.distortion["sent"]["float"]["l2"] for r in group])
        crafted_linf = np.array([r.distortion["sent"]["float"]["linf"] for r in group])
        hits = [r for r in group if r.oracle_success]
        row: Row = {
            "attack": attack,
            "norm": norm,
            "eps": eps,
            "eps_steps": group[0].eps_steps,
            "n": len(group),
            "oracle_success_pct": 100.0 * len(hits) / len(group),
            "l2_mean": float(crafted_l2.mean()),
            "l2_max": float(crafted_l2.max()),
            "linf_mean": float(crafted_linf.mean()),
            "linf_max": float(crafted_linf.max()),
            "queries_mean": float(np.mean([r.queries for r in group])),
            "clean_pct": {},
            "accuracy_pct": {},
            "transfer_pct": {},
            "linf_steps_max": {},
        }
        for name in backends:
            entries = [r.backends[name] for r in group if name in r.backends]
            if not entries:
                continue
            labels = [r.label for r in group if name in r.backends]
            row["clean_pct"][name] = 100.0 * np.mean(
                [e.clean_prediction == lab for e, lab in zip(entries, labels, strict=True)]
            )
            row["accuracy_pct"][name] = 100.0 * np.mean(
                [e.prediction == lab for e, lab in zip(entries, labels, strict=True)]
            )
            moved = [  # fooled on the oracle, and clean-correct on this backend
                r.backends[name].success
                for r in hits
                if name in r.backends and r.backends[name].clean_prediction == r.label
            ]
            row["transfer_pct"][name] = 100.0 * float(np.mean(moved)) if moved else None
            steps = [e.distortion["steps"] for e in entries if e.distortion["steps"]]
            row["linf_steps_max"][name] = max((s["linf"] for s in steps), default=None)
        rows.append(row)
    rows.sort(key=lambda r: (r["attack"], r["eps"] != "none", _eps_value(r["eps"])))
    return rows


def _eps_value(eps: str) -> float:
    return float("inf") if eps == "none" else float(eps)
