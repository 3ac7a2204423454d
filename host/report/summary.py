"""Summary statistics of a campaign or a run folder, from its records only.

Distortion statistics are over the examples that fooled the oracle (an attack that failed
leaves no perturbation worth measuring); accuracy is over every example.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from host.records import AttackRecord
from host.report.audit import audit
from host.report.boundary import boundary_distances, distortion_quantiles
from host.report.edge import edge_summary
from host.report.sections import GROUND_TRUTH

Row = dict[str, Any]  # one (attack, eps): as written to summary.json


def summarise(records: list[AttackRecord], backends: list[str]) -> list[Row]:
    """One row per (attack, eps): accuracy per backend, distortion, transfer rates, queries."""
    groups: dict[tuple, list[AttackRecord]] = {}
    for record in records:
        groups.setdefault((record.attack, record.norm, record.eps), []).append(record)
    rows = []
    for (attack, norm, eps), group in groups.items():
        hits = [r for r in group if r.oracle_success]
        sent_l2 = [r.distortion["sent"]["float"]["l2"] for r in hits]
        sent_linf = [r.distortion["sent"]["float"]["linf"] for r in hits]
        row: Row = {
            "attack": attack,
            "norm": norm,
            "eps": eps,
            "eps_steps": group[0].eps_steps,
            "n": len(group),
            "oracle_success_pct": 100.0 * len(hits) / len(group),
            "query_budget": group[0].query_budget,
            "successful": len(hits),  # distortion statistics are over these examples
            "l2_mean": _mean(sent_l2),
            "l2_max": max(sent_l2, default=None),
            "linf_mean": _mean(sent_linf),
            "linf_max": max(sent_linf, default=None),
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


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise_run(
    records: list[AttackRecord],
    model_files: dict[str, dict[str, Any]] | None = None,
    gradients: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run's summary: one table per (model, mode, oracle) with what it was run with (model
    file hashes, examples, seed, query budgets, backends), the agreement between the board
    and TFLite Micro on every adversarial input, the gradient-masking audit (``gradients``:
    the run folder's measurements, ``host.report.audit``), the edge-only rates
    (``host.report.edge``), the minimal attacks' boundary distances and every cell's L0/L2/Linf
    quantiles (``host.report.boundary``)."""
    groups: dict[tuple[str, str, str], list[AttackRecord]] = {}
    for record in records:
        groups.setdefault((record.model, record.mode, record.oracle), []).append(record)
    tables = []
    for (model, mode, oracle), group in groups.items():
        backends = list(dict.fromkeys(name for r in group for name in r.backends))
        tables.append(
            {
                "model": model,
                "model_files": (model_files or {}).get(model, {}),
                "mode": mode,
                "oracle": oracle,
                "n": len({r.index for r in group}),
                "seeds": sorted({r.seed for r in group}),
                "query_budgets": {r.attack: r.query_budget for r in group},
                "backends": backends,
                "rows": summarise(group, backends),
            }
        )
    return {
        "tables": tables,
        "agreement": device_agreement(records),
        "audit": audit(records, gradients),
        "edge": edge_summary(records),
        "boundary": boundary_distances(records),
        "distortion_quantiles": distortion_quantiles(records),
    }


def device_agreement(records: list[AttackRecord]) -> list[dict[str, Any]]:
    """Per model and precision, the board (``device-<p>``) against TFLite Micro (``tflm-<p>``,
    else the engine's ``engine-<p>``) on every adversarial input both ran: identical raw
    outputs, and each disagreement."""
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        for name in record.backends:
            if not name.startswith("device-"):
                continue
            precision = name.removeprefix("device-")
            references = [f"{runtime}-{precision}" for runtime in GROUND_TRUTH]
            reference = next((r for r in references if r in record.backends), None)
            if reference is None:
                continue
            pair = pairs.setdefault(
                (record.model, name, reference),
                {"model": record.model, "a": name, "b": reference, "inputs": 0, "identical": 0},
            )
            pair.setdefault("disagreements", [])
            a, b = record.backends[name], record.backends[reference]
            pair["inputs"] += 1
            diff = int(np.max(np.abs(np.subtract(a.raw, b.raw)))) if a.raw else 0
            if diff == 0 and a.raw == b.raw:
                pair["identical"] += 1
                continue
            pair["disagreements"].append(
                {
                    "attack": record.attack,
                    "eps": record.eps,
                    "index": record.index,
                    "max_diff_steps": diff,
                    "predictions": [a.prediction, b.prediction],
                }
            )
    return list(pairs.values())
