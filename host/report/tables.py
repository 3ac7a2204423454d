"""Text tables: the campaign summary in markdown, the clean evaluation as the command prints it."""

from __future__ import annotations

from typing import Any

from host.records import EvaluationResult
from host.report.audit import audit_markdown
from host.report.boundary import boundary_markdown
from host.report.edge import edge_markdown
from host.report.summary import Row


def campaign_table(rows: list[Row], backends: list[str]) -> str:
    """A markdown table: accuracy per backend per eps, distortion over the successful
    examples, transfer rates, queries; every header says what its numbers are."""
    head = ["attack (norm)", "eps (input steps)"] + [f"{b} accuracy %" for b in backends]
    head += ["oracle success %", "L2 mean/max (successful)", "Linf mean/max (successful)"]
    head += [f"transfer to {b} %" for b in backends] + ["mean queries / example"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if rows:
        clean = ["clean", ""] + [_pct(rows[0]["clean_pct"].get(b)) for b in backends]
        lines.append("| " + " | ".join(clean + [""] * (len(head) - len(clean))) + " |")
    for row in rows:
        eps = row["eps"] if row["eps"] == "none" else f"{float(row['eps']):.6g}"
        if row["eps_steps"] is not None:
            eps += f" ({row['eps_steps']:g})"
        cells = [f"{row['attack']} ({row['norm']})", eps]
        cells += [_pct(row["accuracy_pct"].get(b)) for b in backends]
        cells.append(_pct(row["oracle_success_pct"]))
        cells.append(_mean_max(row["l2_mean"], row["l2_max"]))
        cells.append(_mean_max(row["linf_mean"], row["linf_max"]))
        cells += [_pct(row["transfer_pct"].get(b)) for b in backends]
        cells.append(f"{row['queries_mean']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean_max(mean: float | None, largest: float | None) -> str:
    return "-" if mean is None or largest is None else f"{mean:.4f}/{largest:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """A run's summary (``host.report.summary.summarise_run``) as markdown: each table under
    what it was run with, then the board against TFLite Micro on every adversarial input."""
    parts = []
    for table in summary["tables"]:
        files = ", ".join(
            f"{precision} sha256 {entry['sha256'][:12]}"
            for precision, entry in table["model_files"].items()
        )
        budgets = ", ".join(
            f"{attack} {budget:,} queries / example"
            for attack, budget in table["query_budgets"].items()
            if budget is not None
        )
        parts.append(
            f"### {table['model']}: {table['mode']}, oracle {table['oracle']}\n\n"
            f"model files: {files or 'not recorded'}; n = {table['n']} examples; seed "
            f"{', '.join(map(str, table['seeds']))}; query budgets: {budgets or 'none'}; "
            f"backends: {', '.join(table['backends'])}\n\n"
            + campaign_table(table["rows"], table["backends"])
        )
    for pair in summary["agreement"]:
        parts.append(agreement_text(pair))
    if summary.get("boundary"):
        parts.append(boundary_markdown(summary["boundary"]))
    if "audit" in summary:
        parts.append(audit_markdown(summary["audit"]))
    if "edge" in summary:
        parts.append(edge_markdown(summary["edge"]))
    return "\n\n".join(part for part in parts if part)


def agreement_text(pair: dict[str, Any]) -> str:
    """The board against TFLite Micro on adversarial inputs, with every disagreement."""
    lines = [
        f"{pair['model']}: {pair['a']} vs {pair['b']} on every adversarial input: "
        f"{pair['identical']} of {pair['inputs']} identical raw outputs"
    ]
    for case in pair["disagreements"]:
        lines.append(
            f"- differs: {case['attack']} eps {case['eps']} example {case['index']}: max diff "
            f"{case['max_diff_steps']} steps, predictions {case['predictions'][0]} vs "
            f"{case['predictions'][1]}"
        )
    return "\n".join(lines)


def evaluation_text(result: EvaluationResult) -> str:
    """Accuracy per backend, agreement per pair and, if localised, the per-op tables."""
    dataset, n = result.dataset, result.n
    lines = [f"\n{result.model} on {dataset['name']}/{dataset['split']}, n={n}"]
    lines.append(f"  {'backend':<18} {'kernels':<34} {'accuracy':>9}")
    for name, backend in result.backends.items():
        correct = sum(p == y for p, y in zip(backend.predictions, result.labels, strict=True))
        lines.append(
            f"  {name:<18} {backend.kernels:<34} {backend.accuracy_pct:>8.2f}%  ({correct}/{n})"
        )
    if result.agreement:
        lines.append("\nagreement (raw outputs):")
    for pair in result.agreement:
        lines.append(
            f"  {pair['a']} vs {pair['b']}: {pair['identical_pct']:.2f}% identical, max diff "
            f"{pair['max_diff_steps']} steps, top-1 agreement {pair['top1_agree_pct']:.2f}% "
            f"({pair['top1_flips']} flips)"
        )
    for pair in result.agreement_ops:
        lines.extend(_op_table(pair))
    return "\n".join(lines)


def _op_table(pair: dict[str, Any]) -> list[str]:
    """Per-op agreement of one pair, its first divergence and, at a FULLY_CONNECTED, the
    requantization rules that reproduce each backend."""
    a, b, first = pair["a"], pair["b"], pair["first_divergence"]
    lines = [f"\nper-op agreement {a} vs {b} (graph cut after each op):"]
    lines.append(f"  {'op':>3}  {'name':<24} {'identical':>10}  max diff")
    for op in pair["ops"]:
        lines.append(
            f"  {op['op_index']:>3}  {op['op_name']:<24} {op['identical_pct']:>9.2f}%  "
            f"{op['max_diff_steps']}"
        )
    if first is None:
        lines.append("  no divergence: identical after every op")
        return lines
    lines.append(f"  first divergence: op {first['op_index']} {first['op_name']}")
    if first["op_name"] != "FULLY_CONNECTED":
        return lines
    if pair.get("fully_connected_error"):
        lines.append(
            f"  (FULLY_CONNECTED requantization not modelled: {pair['fully_connected_error']})"
        )
        return lines
    table = pair["fully_connected_rules"]
    for name in (a, b):
        rules = [rule for rule, match in table.items() if match[name] == 100.0]
        lines.append(
            f"  {name} FULLY_CONNECTED is reproduced by: {'; '.join(rules) or 'no modelled rule'}"
        )
    return lines
