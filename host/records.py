"""Records: the schema of everything a command writes, and the files that hold it.

Two kinds of record. An ``AttackRecord`` is one (example, attack, eps) of a campaign, with what
every backend made of it; campaigns append them to a JSON-lines file (``RecordFile``), one
flushed line at a time, so an interrupted run loses nothing recorded and a rerun skips it. An
``EvaluationResult`` is one clean evaluation (accuracy, raw outputs and agreement per backend),
one item of a run folder's ``evaluation.json`` (``host.run.folder``).

Everything recorded is a function of the campaign and its seed except the timing fields
(``TIMING_FIELDS``): the same campaign run twice, or interrupted and resumed, writes the same
bytes once those are left out (``without_timing``; tests/test_determinism.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from host.errors import UserError

Key = tuple[str, int, str]  # (config_id, example index, eps label): what a rerun skips

# Wall-clock fields, the only ones that differ between two runs of the same campaign:
# BackendEvaluation.seconds, and run.json's started, ended and seconds (host.run.folder).
TIMING_FIELDS = frozenset({"seconds", "started", "ended"})


def without_timing(values: Any) -> Any:
    """JSON values (a record, evaluation.json, run.json) without their timing fields."""
    if isinstance(values, dict):
        return {k: without_timing(v) for k, v in values.items() if k not in TIMING_FIELDS}
    if isinstance(values, list):
        return [without_timing(v) for v in values]
    return values


@dataclass
class BackendOutcome:
    """What one backend made of one example, clean and adversarial (raw integer outputs)."""

    clean_prediction: int
    clean_raw: list[Any]
    prediction: int
    raw: list[Any]
    success: bool  # fooled, and not flagged by the backend's detector
    distortion: dict[str, Any]  # after the backend's input mapping: {"float": ..., "steps": ...}
    detected: bool | None = None  # flagged by a detector (``+squeeze``); None: no detector


@dataclass
class AttackRecord:
    """One (example, attack, eps) of a campaign: the attack's result and every backend's."""

    config_id: str
    model: str
    mode: str
    oracle: str
    attack: str
    norm: str
    params: dict[str, Any]
    params_effective: dict[str, Any]
    seed: int
    query_budget: int | None
    eps: str  # "none" for a minimisation attack's own output, else repr(float(eps))
    eps_steps: float | None
    index: int
    label: int
    target: int | None
    oracle_success: bool
    oracle_prediction: int
    queries: int
    invalid: bool
    distortion: dict[str, Any]  # {"crafted": ..., "sent": ...}, each {"float": ..., "steps": ...}
    reference_step: float
    backends: dict[str, BackendOutcome]

    @property
    def key(self) -> Key:
        return (self.config_id, self.index, self.eps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AttackRecord:
        backends = {name: BackendOutcome(**b) for name, b in values["backends"].items()}
        return cls(**{**values, "backends": backends})


class RecordFile:
    """A JSON-lines file of attack records (or, with ``path=None``, a list in memory)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)  # a notebook passes a str
        self._memory: list[AttackRecord] = []
        self._sink: IO[str] | None = None

    def read(self) -> list[AttackRecord]:
        """Every complete record (a torn or foreign line is skipped)."""
        if self.path is None:
            return list(self._memory)
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                values = json.loads(line)
            except json.JSONDecodeError:
                continue
            try:
                records.append(AttackRecord.from_dict(values))
            except (TypeError, KeyError, AttributeError) as error:
                raise UserError(
                    f"{self.path}:{number} is not an attack record ({error})"
                ) from error
        return records

    @contextmanager
    def appending(self) -> Iterator[RecordFile]:
        """Open for ``append``; a last line torn by an interrupted run is cut off first."""
        if self.path is None:
            yield self
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_torn_line(self.path)
        with self.path.open("a") as sink:
            self._sink = sink
            try:
                yield self
            finally:
                self._sink = None

    def append(self, record: AttackRecord) -> None:
        """Write one record as one line, flushed at once."""
        if self.path is None:
            self._memory.append(record)
            return
        if self._sink is None:
            raise RuntimeError("RecordFile.append outside RecordFile.appending()")
        self._sink.write(json.dumps(record.to_dict()) + "\n")
        self._sink.flush()


def _repair_torn_line(path: Path) -> None:
    """Cut off an unfinished last line (a complete one only gets its missing newline)."""
    if not path.is_file():
        return
    content = path.read_bytes()
    if not content or content.endswith(b"\n"):
        return
    start = content.rfind(b"\n") + 1
    try:
        json.loads(content[start:])
    except ValueError:
        path.write_bytes(content[:start])
        return
    with path.open("ab") as sink:
        sink.write(b"\n")


@dataclass
class BackendEvaluation:
    """One backend's clean evaluation: quantization, accuracy, time, every raw output."""

    precision: str
    kernels: str
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    accuracy_pct: float
    seconds: float
    predictions: list[int]
    raw_outputs: list[Any]


@dataclass
class EvaluationResult:
    """A clean evaluation: accuracy per backend and agreement between integer backends.

    ``skipped`` (optional backends that could not load, with why) and ``path`` (the
    evaluation.json written, if any) are not part of the saved record.
    """

    command: list[str] | None
    model: str
    zoo_model: str | None
    dataset: dict[str, Any]  # name, split, source
    n: int
    sample_seed: int | None  # None: the first n examples
    indices: list[int]
    labels: list[int]
    input_range: float
    model_files: dict[str, dict[str, str]]  # precision -> path, sha256
    backends: dict[str, BackendEvaluation]
    agreement: list[dict[str, Any]]  # host.agreement.Agreement.as_dict(), per pair
    agreement_ops: list[dict[str, Any]]  # per pair: per-op agreement, first divergence
    versions: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict, metadata={"saved": False})
    path: Path | None = field(default=None, metadata={"saved": False})

    @property
    def accuracy(self) -> dict[str, float]:
        """Accuracy in % per backend."""
        return {name: b.accuracy_pct for name, b in self.backends.items()}

    def to_dict(self) -> dict[str, Any]:
        saved = [f.name for f in fields(self) if f.metadata.get("saved", True)]
        values = {name: getattr(self, name) for name in saved}
        values["backends"] = {name: asdict(b) for name, b in self.backends.items()}
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationResult:
        backends = {name: BackendEvaluation(**b) for name, b in values["backends"].items()}
        return cls(**{**values, "backends": backends})
