"""The edge-only rate, from records only: adversarial inputs only the integer model gets wrong.

Per model, attack, eps and integer backend (engine-int8, tflm-int8, device-int8, ...): among
the examples the float model and that backend both classify correctly when clean, the share
whose adversarial input the float backend still classifies correctly while the integer backend
does not. A backend behind pre-processing defenses (``engine-int8+median2``) is compared with
the float backend behind the same ones (``float+median2``). Computed for every attack, so what
PGD transfer yields as a by-product stands beside DIVA (``host.attacks.edge``). Without the
float backend among the evaluated backends there is no rate: a note says so.
"""

from __future__ import annotations

from typing import Any

from host.records import AttackRecord, BackendOutcome
from host.report.sections import cell_key, group_by, precision_of, split_backend

Row = dict[str, Any]  # one (model, attack, eps, integer backend)


def float_reference(backend: str) -> str:
    """The float backend an integer backend is compared with (the same defenses)."""
    defense = split_backend(backend)[1]
    return "float" if defense is None else f"float+{defense}"


def edge_summary(records: list[AttackRecord]) -> dict[str, Any]:
    """``rows``: the edge-only rate of each (model, attack, eps, integer backend); ``notes``:
    one line per model and integer backend that had no float backend to compare with."""
    groups = group_by(records, cell_key)
    rows: list[Row] = []
    missing: dict[tuple[str, str], str] = {}  # (model, backend) -> its missing float backend
    for (model, attack, norm, mode, oracle, eps), group in groups.items():
        backends = dict.fromkeys(name for r in group for name in r.backends)
        for backend in backends:
            if precision_of(backend) == "float":
                continue
            reference = float_reference(backend)
            pairs = [
                (r, r.backends[reference], r.backends[backend])
                for r in group
                if backend in r.backends and reference in r.backends
            ]
            if not pairs:
                missing.setdefault((model, backend), reference)
                continue
            both = [
                (r, f, i)
                for r, f, i in pairs
                if f.clean_prediction == i.clean_prediction == r.label
            ]
            wrong = [i.prediction != r.label for r, _, i in both]
            edge = [f.prediction == r.label and i.prediction != r.label for r, f, i in both]
            rows.append(
                {
                    "model": model,
                    "attack": attack,
                    "norm": norm,
                    "mode": mode,
                    "oracle": oracle,
                    "eps": eps,
                    "eps_steps": group[0].eps_steps,
                    "backend": backend,
                    "float": reference,
                    "n": len({r.index for r, _, _ in pairs}),
                    "both_correct": len(both),
                    "integer_wrong_pct": _pct(wrong),
                    "edge_only": sum(edge),
                    "edge_only_pct": _pct(edge),
                }
            )
    rows.sort(
        key=lambda r: (r["model"], r["attack"], r["mode"], r["oracle"], _eps(r), r["backend"])
    )
    notes = [
        f"{model}: no {reference} backend among the evaluated backends, so no edge-only rate "
        f"for {backend} (add {reference} to the backends)"
        for (model, backend), reference in missing.items()
    ]
    return {"rows": rows, "notes": notes}


def edge_markdown(summary: dict[str, Any]) -> str:
    """The edge-only table (and its notes) as markdown; empty without records."""
    if not summary["rows"] and not summary["notes"]:
        return ""
    lines = [
        "### Edge-only: float right, integer wrong",
        "",
        "Among the examples the float model and the integer backend both classify correctly "
        "when clean: the % the integer backend gets wrong under attack, and the % only it gets "
        "wrong (the float model still right: edge-only).",
    ]
    if summary["rows"]:
        head = ["model", "attack (norm, crafted on)", "eps (input steps)", "integer backend"]
        head += ["both correct clean", "integer wrong %", "edge-only %"]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in summary["rows"]:
            cells = [row["model"], attack_title(row), eps_title(row), row["backend"]]
            cells += [f"{row['both_correct']} of {row['n']}", _text(row["integer_wrong_pct"])]
            cells.append(f"{_text(row['edge_only_pct'])} ({row['edge_only']})")
            lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {note}" for note in summary["notes"]]
    return "\n".join(lines).rstrip()


def attack_title(row: Row) -> str:
    where = "transfer from" if row["mode"] == "transfer" else "direct on"
    return f"{row['attack']} ({row['norm']}, {where} {row['oracle']})"


def eps_title(row: Row) -> str:
    if row["eps"] == "none":
        return "own eps"
    text = f"{float(row['eps']):.6g}"
    return text if row["eps_steps"] is None else f"{text} ({row['eps_steps']:g})"


def _clean_correct(record: AttackRecord, *outcomes: BackendOutcome) -> bool:
    return all(outcome.clean_prediction == record.label for outcome in outcomes)


def _eps(row: Row) -> float:
    return float("inf") if row["eps"] == "none" else float(row["eps"])


def _pct(values: list[bool]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
