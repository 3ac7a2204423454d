"""The numbers behind each section of the HTML report, from a run folder only (no plotting).

Staircases (accuracy against eps per backend, clean accuracy at eps 0, the paper's points),
transfer matrices (crafted on the oracle, success on each backend), distortions (float and
quantization steps), agreement of integer backends with TFLite Micro (clean and on every
adversarial input), the board's cost, and the manifest.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from host.backends import parse_name
from host.records import AttackRecord, EvaluationResult
from host.report.run_folder import RunFolder

PAPER = Path(__file__).with_name("paper.toml")
# The runtimes whose outputs are TFLite Micro's, what the board must compute: the wheel, then
# the engine (tested byte-exact against it, host/backends/engine.py).
GROUND_TRUTH = ("tflm", "engine")


def split_backend(name: str) -> tuple[str, str | None]:
    """(backend, pre-processing defenses or None): ``engine-int8+bits5`` -> (engine-int8, bits5)."""
    backend, _, defense = name.partition("+")
    return backend, defense or None


def precision_of(backend: str) -> str:
    return parse_name(split_backend(backend)[0])[1]


def truth_rank(backend: str) -> int:
    """0 for the wheel, 1 for the engine, 2 for a backend that is not TFLite Micro's answer."""
    runtime = parse_name(split_backend(backend)[0])[0]
    return GROUND_TRUTH.index(runtime) if runtime in GROUND_TRUTH else len(GROUND_TRUTH)


def _pct(values: Iterable[bool]) -> float | None:
    values = list(values)
    return 100.0 * float(np.mean(values)) if values else None


def _attack_label(record: AttackRecord) -> str:
    where = f"crafted on {record.oracle}" if record.mode == "transfer" else f"on {record.oracle}"
    return f"{record.attack} ({record.norm}, {where})"


def cell_key(record: AttackRecord) -> tuple[str, str, str, str, str, str]:
    """What makes one cell of a run: (model, attack, norm, mode, oracle, eps)."""
    return (record.model, record.attack, record.norm, record.mode, record.oracle, record.eps)


def group_by(records: Iterable[AttackRecord], key: Any) -> dict[Any, list[AttackRecord]]:
    """Records grouped by ``key(record)``, in the order keys first appear."""
    groups: dict[Any, list[AttackRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups


def _backends(records: list[AttackRecord]) -> list[str]:
    return list(dict.fromkeys(name for r in records for name in r.backends))


# --- the staircase -------------------------------------------------------------------------


@dataclass
class Curve:
    """Accuracy in % against eps in [0,1] units (eps 0: clean) for one backend or paper entry."""

    label: str
    precision: str
    eps: list[float]
    accuracy: list[float]


@dataclass
class Staircase:
    model: str
    title: str
    n: int
    curves: list[Curve]
    paper: list[Curve]
    int8_step: float | None  # [0,1] units per int8 input step (None: no int8 backend)


def staircases(run: RunFolder, paper_file: Path = PAPER) -> list[Staircase]:
    """One staircase per (model, attack, norm, mode, oracle) with numeric eps."""
    bounded = [r for r in run.records if r.eps != "none"]
    groups = group_by(bounded, lambda r: (r.model, r.attack, r.norm, r.mode, r.oracle))
    entries = paper_points(paper_file)
    result = []
    for (model, attack, norm, _, _), group in groups.items():
        by_eps = sorted(group_by(group, lambda r: float(r.eps)).items())
        curves = []
        for name in _backends(group):
            clean = {r.index: r.backends[name] for r in group if name in r.backends}
            labels = {r.index: r.label for r in group}
            eps, accuracy = [0.0], [_pct(o.clean_prediction == labels[i] for i, o in clean.items())]
            for value, at_eps in by_eps:
                hits = [
                    r.backends[name].prediction == r.label for r in at_eps if name in r.backends
                ]
                if hits:
                    eps.append(value)
                    accuracy.append(_pct(hits))
            curves.append(Curve(name, precision_of(name), eps, [a or 0.0 for a in accuracy]))
        reach = 1.05 * max(eps for eps, _ in by_eps)
        paper = [
            _within(curve, reach)
            for entry in entries
            if _matches(entry, model, attack, norm)
            for curve in entry[1]
        ]
        n = len({r.index for r in group})
        result.append(
            Staircase(
                model,
                f"{model}: {_attack_label(group[0])}",
                n,
                curves,
                paper,
                int8_step(run, model),
            )
        )
    return result


def paper_points(path: Path = PAPER) -> list[tuple[dict[str, Any], list[Curve]]]:
    """The seed paper's staircase points: (entry, one curve per precision) per entry."""
    table = tomllib.loads(path.read_text())
    entries = []
    for entry in table.get("staircase", []):
        points = sorted(entry["points"], key=lambda p: p["eps"])
        curves = [
            Curve(
                f"paper {p}",
                p,
                [pt["eps"] for pt in points if p in pt],
                [pt[p] for pt in points if p in pt],
            )
            for p in ("float", "int16", "int8")
        ]
        entries.append((entry, [c for c in curves if c.eps]))
    return entries


def _within(curve: Curve, reach: float) -> Curve:
    """The curve's points up to eps ``reach`` (the paper's points where ours exist)."""
    kept = [(e, a) for e, a in zip(curve.eps, curve.accuracy, strict=True) if e <= reach]
    return Curve(curve.label, curve.precision, [e for e, _ in kept], [a for _, a in kept])


def paper_source(path: Path = PAPER) -> dict[str, str]:
    """Where the paper's numbers come from (paper.toml's [source])."""
    return tomllib.loads(path.read_text())["source"]


def _matches(entry: tuple[dict[str, Any], list[Curve]], model: str, attack: str, norm: str) -> bool:
    spec = entry[0]
    return model in spec["models"] and spec["attack"] == attack and spec["norm"] == norm


def int8_step(run: RunFolder, model: str) -> float | None:
    """One int8 input step in [0,1] units: from an int8 backend's recorded lattice distortion,
    else from the clean evaluation's input scale."""
    for record in run.records:
        if record.model != model:
            continue
        for name, outcome in record.backends.items():
            steps = outcome.distortion.get("steps")
            if precision_of(name) == "int8" and steps and steps["linf"] > 0:
                return float(outcome.distortion["float"]["linf"] / steps["linf"])
    for evaluation in run.evaluations:
        for backend in evaluation.backends.values():
            if evaluation.model == model and backend.precision == "int8":
                return backend.input_scale / evaluation.input_range
    return None


# --- transfer matrix -----------------------------------------------------------------------


@dataclass
class TransferMatrix:
    """Attack success in % (of the examples a backend classifies correctly when clean) for
    each row (crafted on the oracle: attack, eps) and each evaluating backend."""

    model: str
    rows: list[str]
    columns: list[str]
    success: list[list[float | None]]


def transfer_matrices(run: RunFolder) -> list[TransferMatrix]:
    matrices = []
    for model, records in group_by(run.records, lambda r: r.model).items():
        columns = _backends(records)
        rows, success = [], []
        groups = group_by(records, lambda r: (r.oracle, r.attack, r.norm, r.eps))
        for (oracle, attack, norm, eps), group in sorted(groups.items(), key=_row_order):
            eps_text = "own eps" if eps == "none" else f"eps {float(eps):.4g}"
            if group[0].eps_steps is not None:
                eps_text += f" ({group[0].eps_steps:g} steps)"
            rows.append(f"{oracle} → {attack} ({norm}), {eps_text}")
            success.append([_success(group, name) for name in columns])
        matrices.append(TransferMatrix(model, rows, columns, success))
    return matrices


def _row_order(item: tuple[tuple[str, str, str, str], list[AttackRecord]]) -> tuple:
    oracle, attack, norm, eps = item[0]
    return oracle, attack, norm, eps != "none", 0.0 if eps == "none" else float(eps)


def _success(group: list[AttackRecord], name: str) -> float | None:
    outcomes = [(r.backends[name], r.label) for r in group if name in r.backends]
    return _pct(o.success for o, label in outcomes if o.clean_prediction == label)


# --- distortion ----------------------------------------------------------------------------


@dataclass
class Distortions:
    """Per model: float L2 and Linf of the inputs sent, per attack, over the examples that fooled
    the oracle; Linf and L2 in quantization steps on each integer backend, over every input
    sent (after the backend's own input quantization)."""

    model: str
    float_l2: dict[str, list[float]] = field(default_factory=dict)
    float_linf: dict[str, list[float]] = field(default_factory=dict)
    steps_linf: dict[str, list[float]] = field(default_factory=dict)
    steps_l2: dict[str, list[float]] = field(default_factory=dict)


def distortions(run: RunFolder) -> list[Distortions]:
    result = []
    for model, records in group_by(run.records, lambda r: r.model).items():
        found = Distortions(model)
        for record in records:
            if record.oracle_success:
                sent = record.distortion["sent"]["float"]
                label = _attack_label(record)
                found.float_l2.setdefault(label, []).append(sent["l2"])
                found.float_linf.setdefault(label, []).append(sent["linf"])
            for name, outcome in record.backends.items():
                steps = outcome.distortion.get("steps")
                if steps and precision_of(name) != "float":
                    found.steps_linf.setdefault(name, []).append(steps["linf"])
                    found.steps_l2.setdefault(name, []).append(steps["l2"])
        result.append(found)
    return result


# --- agreement -----------------------------------------------------------------------------


@dataclass
class Disagreement:
    """One input on which a backend's raw outputs differ from TFLite Micro's."""

    example: int
    attack: str  # "clean" for a clean input
    eps: str
    max_diff_steps: int
    prediction: int
    reference_prediction: int

    @property
    def flipped(self) -> bool:
        return self.prediction != self.reference_prediction


@dataclass
class PairAgreement:
    """A backend against its reference (TFLite Micro of the same precision) on a set of inputs."""

    model: str
    backend: str
    reference: str
    inputs: str  # what was compared: "clean evaluation", "adversarial inputs"
    compared: int
    identical: int
    max_diff_steps: int
    top1_flips: int
    first_divergence: str | None  # "op 12 FULLY_CONNECTED", from the per-op localisation
    disagreements: list[Disagreement]

    @property
    def on_board(self) -> bool:
        return self.backend.startswith("device-")

    @property
    def identical_pct(self) -> float:
        return 100.0 * self.identical / self.compared if self.compared else 100.0


def _compare(a: Any, b: Any) -> tuple[int, int, int]:
    """(max |a - b| in integer steps, argmax a, argmax b)."""
    a, b = np.asarray(a, np.int64).ravel(), np.asarray(b, np.int64).ravel()
    return int(np.abs(a - b).max()), int(a.argmax()), int(b.argmax())


def agreements(run: RunFolder) -> list[PairAgreement]:
    """Every integer backend against TFLite Micro of its precision: on the clean evaluation and
    on every adversarial input of the records."""
    pairs = []
    for evaluation in run.evaluations:
        for pair in evaluation.agreement:
            pairs.append(_clean_pair(evaluation, pair["a"], pair["b"]))
    for model, records in group_by(run.records, lambda r: r.model).items():
        names = _backends(records)
        for name in names:
            defense = split_backend(name)[1]  # compared with TFLite Micro behind the same defense
            suffix = f"+{defense}" if defense else ""
            candidates = [f"{rt}-{precision_of(name)}{suffix}" for rt in GROUND_TRUTH]
            reference = next((c for c in candidates if c in names), name)
            if precision_of(name) != "float" and reference != name:
                pairs.append(_record_pair(run, model, records, name, reference))
    return pairs


def _ordered(a: str, b: str) -> tuple[str, str]:
    """(backend, reference): TFLite Micro's answer is the reference (the wheel before the
    engine) when it is one of the two."""
    return (b, a) if truth_rank(a) < truth_rank(b) else (a, b)


def _clean_pair(evaluation: EvaluationResult, a: str, b: str) -> PairAgreement:
    name, reference = _ordered(a, b)
    ours, theirs = evaluation.backends[name].raw_outputs, evaluation.backends[reference].raw_outputs
    found = []
    for index, x, y in zip(evaluation.indices, ours, theirs, strict=True):
        diff, top_a, top_b = _compare(x, y)
        if diff:
            found.append(Disagreement(index, "clean", "", diff, top_a, top_b))
    return _pair(
        evaluation.model,
        name,
        reference,
        "clean evaluation",
        len(ours),
        found,
        _first_divergence(evaluation, name, reference),
    )


def _record_pair(
    run: RunFolder, model: str, records: list[AttackRecord], name: str, reference: str
) -> PairAgreement:
    found, compared, clean_seen = [], 0, set()
    for record in records:
        if name not in record.backends or reference not in record.backends:
            continue
        ours, theirs = record.backends[name], record.backends[reference]
        inputs = [(record.attack, record.eps, ours.raw, theirs.raw)]
        if record.index not in clean_seen:
            clean_seen.add(record.index)
            inputs.append(("clean", "", ours.clean_raw, theirs.clean_raw))
        for attack, eps, x, y in inputs:
            compared += 1
            diff, top_a, top_b = _compare(x, y)
            if diff:
                found.append(Disagreement(record.index, attack, eps, diff, top_a, top_b))
    first = next(
        (_first_divergence(e, name, reference) for e in run.evaluations if e.model == model), None
    )
    return _pair(
        model, name, reference, "attack inputs (clean and adversarial)", compared, found, first
    )


def _pair(
    model: str,
    name: str,
    reference: str,
    inputs: str,
    compared: int,
    found: list[Disagreement],
    first: str | None,
) -> PairAgreement:
    return PairAgreement(
        model,
        name,
        reference,
        inputs,
        compared,
        compared - len(found),
        max((d.max_diff_steps for d in found), default=0),
        sum(d.flipped for d in found),
        first,
        found,
    )


def _first_divergence(evaluation: EvaluationResult, a: str, b: str) -> str | None:
    for pair in evaluation.agreement_ops:
        if {pair["a"], pair["b"]} == {a, b}:
            first = pair["first_divergence"]
            return (
                "none (identical after every op)"
                if first is None
                else (f"op {first['op_index']} {first['op_name']}")
            )
    return None


# --- the board's cost, the header, the manifest --------------------------------------------


def board_costs(run: RunFolder) -> list[dict[str, Any]]:
    """The boards of run.json (``board``: one HELLO-like object, a list, or one per model), each
    as its scalar fields."""
    boards = run.manifest.get("boards", run.manifest.get("board"))
    if isinstance(boards, dict) and boards and all(isinstance(v, dict) for v in boards.values()):
        boards = [{"model": model, **info} for model, info in boards.items()]
    elif isinstance(boards, dict):
        boards = [boards]
    if not isinstance(boards, list):
        return []
    return [
        {key: value for key, value in board.items() if not isinstance(value, dict | list)}
        for board in boards
        if isinstance(board, dict) and board
    ]


@dataclass
class Header:
    models: list[str]
    datasets: list[str]
    n: list[int]
    seeds: list[int]
    date: str
    backends: list[str]
    versions: dict[str, str]


START_KEYS = ("started", "start", "start_time", "started_at", "date")


def header(run: RunFolder) -> Header:
    evaluations, records = run.evaluations, run.records
    datasets = [f"{e.dataset['name']}/{e.dataset['split']}" for e in evaluations]
    n = [e.n for e in evaluations]
    for _, group in group_by(records, lambda r: r.model).items():
        n.append(len({r.index for r in group}))
    seeds = [r.seed for r in records] + [e.sample_seed for e in evaluations if e.sample_seed]
    if isinstance(run.manifest.get("seed"), int):
        seeds.append(run.manifest["seed"])
    backends = [name for e in evaluations for name in e.backends] + _backends(records)
    versions = run.manifest.get("versions") or next((e.versions for e in evaluations), {})
    date = next((str(run.manifest[k]) for k in START_KEYS if run.manifest.get(k)), "")
    return Header(
        run.models,
        list(dict.fromkeys(datasets)),
        sorted(set(n)),
        sorted(set(seeds)),
        date or _stamp_date(run.path.name),
        list(dict.fromkeys(backends)),
        {str(k): str(v) for k, v in versions.items()},
    )


def _stamp_date(name: str) -> str:
    """``20250101-120000-x`` -> ``2025-01-01 12:00:00 UTC`` (else "")."""
    stamp = name[:15]
    if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "", 1).isdigit():
        return (
            f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]} UTC"
        )
    return ""


def manifest_rows(run: RunFolder) -> list[tuple[str, str]]:
    """run.json flattened to (dotted key, value) rows; without run.json, the model files and
    versions the clean evaluations recorded."""
    content: Any = run.manifest
    if not content and run.evaluations:
        content = {
            e.model: {"command": e.command, "model_files": e.model_files, "versions": e.versions}
            for e in run.evaluations
        }
    rows: list[tuple[str, str]] = []
    if content:
        _flatten("", content, rows)
    return rows


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for number, item in enumerate(value):
            _flatten(f"{prefix}[{number}]", item, rows)
    elif isinstance(value, list):
        rows.append((prefix, " ".join(str(v) for v in value)))
    else:
        rows.append((prefix, "" if value is None else str(value)))
