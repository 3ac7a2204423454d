"""The defenses table of a run folder: clean and robust accuracy per defense and precision.

One table per model family (a base model and its train-based variants ``<base>-<defense>``).
Rows: no defense, each train-based defense, each pre-processing defense (a backend written
``<backend>+<defense>``) attacked non-adaptively (crafted without the defense: oracle
``float``) and adaptively (crafted through it: oracle ``float+<defense>``). Columns: clean
accuracy, then robust accuracy for each attack and eps, each on float, int16, int8 and the
board. A detector's detection rate (``BackendOutcome.detected``) is given beside its accuracy.
Everything comes from the records; the board's cost from run.json.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from host.backends import parse_name
from host.records import AttackRecord, BackendOutcome
from host.report.run_folder import RunFolder
from host.report.sections import board_costs, split_backend, truth_rank
from host.zoo.entry import DEFENSES

# Train-based defenses, as zoo variants are named (<base>-<defense>); longest suffix first.
TRAIN_DEFENSES = tuple(sorted(DEFENSES, key=len, reverse=True))
COLUMNS = ("float", "int16", "int8", "board")  # the precision columns, in this order
COST_KEYS = ("engine", "instructions", "cycles", "arena", "ram", "flash", "weight")
CLEAN = ("clean", "")  # the clean column's key


def family(model: str) -> tuple[str, str | None]:
    """(base model, train-based defense or None) of a model name."""
    for defense in TRAIN_DEFENSES:
        if model.endswith(f"-{defense}"):
            return model.removesuffix(f"-{defense}"), defense
    return model, None


def column_of(backend: str) -> str:
    """The precision column of an undefended backend name: float, int16, int8 or board."""
    runtime, precision = parse_name(backend)
    return "board" if runtime == "device" else precision


@dataclass(frozen=True)
class RowKey:
    """What a row is: the model's train-based defense, the pre-processing one, adaptive or not."""

    train: str | None
    preprocess: str | None
    adaptive: bool

    @property
    def label(self) -> str:
        parts = [p for p in (self.train, self.preprocess) if p] or ["none"]
        text = " + ".join(parts)
        if self.preprocess:
            text += " (adaptive)" if self.adaptive else " (non-adaptive)"
        return text

    def order(self, trains: list[str | None], preprocesses: list[str | None]) -> tuple:
        """No defense, the train-based ones, then each pre-processing one (non-adaptive first)."""
        return preprocesses.index(self.preprocess), self.adaptive, trains.index(self.train)


@dataclass
class Cell:
    """Accuracy in % (None: not run) and, for a detector, the % of inputs it flagged."""

    accuracy: float | None = None
    detected: float | None = None

    @property
    def text(self) -> str:
        if self.accuracy is None:
            return "-"
        found = f"{self.accuracy:.1f}"
        return found if self.detected is None else f"{found} (det {self.detected:.0f})"


@dataclass
class DefenseRow:
    key: RowKey
    model: str
    cells: dict[tuple[str, str], dict[str, Cell]] = field(default_factory=dict)  # column -> cell

    @property
    def label(self) -> str:
        return self.key.label

    def cell(self, column: tuple[str, str], precision: str) -> Cell:
        return self.cells.get(column, {}).get(precision, Cell())


@dataclass
class DefenseTable:
    """One model family: columns (attack, eps) x precisions, one row per defense."""

    family: str
    n: int  # examples
    precisions: list[str]
    columns: list[tuple[str, str]]  # (attack, eps); CLEAN first
    rows: list[DefenseRow]

    def markdown(self) -> str:
        """The table in markdown, one column per (attack, eps); each cell gives the accuracy on
        every precision, "float / int16 / int8 / board" as the first header says."""
        head = [f"defense ({' / '.join(self.precisions)}, %)"]
        head += [_column_title(column) for column in self.columns]
        lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
        for row in self.rows:
            cells = [row.label] + [
                " / ".join(row.cell(column, p).text for p in self.precisions)
                for column in self.columns
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _column_title(column: tuple[str, str]) -> str:
    attack, eps = column
    return f"{attack} {eps}".strip()


def defense_tables(run: RunFolder) -> list[DefenseTable]:
    """The defenses table of each model family with at least one defense in the run."""
    families: dict[str, list[AttackRecord]] = {}
    for record in run.records:
        families.setdefault(family(record.model)[0], []).append(record)
    tables = []
    for base, records in families.items():
        table = _table(base, records)
        if any(row.key != RowKey(None, None, False) for row in table.rows):
            tables.append(table)
    return tables


Outcome = tuple[AttackRecord, BackendOutcome]


def _table(base: str, records: list[AttackRecord]) -> DefenseTable:
    # (row, precision) -> backend -> [(column, record, outcome)]
    found: dict[tuple[RowKey, str], dict[str, list[tuple[tuple[str, str], Outcome]]]] = {}
    models: dict[RowKey, str] = {}
    columns: dict[tuple[str, str], float] = {CLEAN: -1.0}  # column -> its eps
    attacks: dict[str, int] = {CLEAN[0]: -1}  # attack title -> first seen (the campaign's order)
    for record in records:
        train = family(record.model)[1]
        oracle, oracle_defense = split_backend(record.oracle)
        column = (_attack_title(record, oracle), _eps_title(record))
        columns.setdefault(column, _eps_value(record))
        attacks.setdefault(column[0], len(attacks))
        for name, outcome in record.backends.items():
            backend, defense = split_backend(name)
            if oracle_defense is not None and oracle_defense != defense:
                continue  # crafted through another defense than this backend's
            key = RowKey(train, defense, oracle_defense is not None)
            models.setdefault(key, record.model)
            cell = found.setdefault((key, column_of(backend)), {})
            cell.setdefault(backend, []).append((column, (record, outcome)))
    rows = {key: DefenseRow(key, model) for key, model in models.items()}
    for (key, precision), backends in found.items():
        chosen = min(backends, key=truth_rank)  # TFLite Micro's answer before other runtimes
        by_column: dict[tuple[str, str], list[Outcome]] = {}
        for column, pair in backends[chosen]:
            by_column.setdefault(column, []).append(pair)
        cells = rows[key].cells
        for column, outcomes in by_column.items():
            cells.setdefault(column, {})[precision] = _cell(outcomes)
        cells.setdefault(CLEAN, {})[precision] = _clean_cell([p for _, p in backends[chosen]])
    start = RowKey(None, None, False)
    trains = list(dict.fromkeys(k.train for k in [start, *rows]))
    preprocesses = list(dict.fromkeys(k.preprocess for k in [start, *rows]))
    ordered = sorted(rows.values(), key=lambda r: r.key.order(trains, preprocesses))
    present = {p for row in ordered for cells in row.cells.values() for p in cells}
    examples = {r.index for r in records if family(r.model)[1] is None} or {
        r.index for r in records
    }
    return DefenseTable(
        base,
        len(examples),
        [p for p in COLUMNS if p in present],
        sorted(columns, key=lambda c: (attacks[c[0]], columns[c])),
        ordered,
    )


def _cell(outcomes: list[Outcome]) -> Cell:
    """Robust accuracy of adversarial inputs (and, for a detector, how many it flagged)."""
    hits = [o.prediction == r.label for r, o in outcomes]
    flags = [bool(f) for _, o in outcomes if (f := getattr(o, "detected", None)) is not None]
    return Cell(_pct(hits), _pct(flags))


def _clean_cell(outcomes: list[Outcome]) -> Cell:
    """Clean accuracy over the distinct examples of the outcomes."""
    seen = {record.index: o.clean_prediction == record.label for record, o in outcomes}
    return Cell(_pct(seen.values()))


def _attack_title(record: AttackRecord, oracle: str) -> str:
    where = "" if record.mode == "transfer" else f", direct on {oracle}"
    return f"{record.attack} ({record.norm}{where})"


def _eps_title(record: AttackRecord) -> str:
    if record.eps == "none":
        return "own eps"
    if record.eps_steps is not None:
        return f"ε {record.eps_steps:g} steps"
    return f"ε {float(record.eps):.4g}"


def _eps_value(record: AttackRecord) -> float:
    return float("inf") if record.eps == "none" else float(record.eps)


def _pct(values: Iterable[bool]) -> float | None:
    values = list(values)
    return 100.0 * sum(values) / len(values) if values else None


def defense_costs(run: RunFolder) -> list[dict[str, Any]]:
    """The boards of run.json with their defense and cost fields (instructions, RAM, flash)."""
    return [
        {k: v for k, v in board.items() if k in ("board", "model") or k.startswith(COST_KEYS)}
        for board in board_costs(run)
    ]
