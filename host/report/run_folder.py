"""A run folder as the report reads it: manifest, clean evaluations and attack records.

Layout (every file optional, a folder needs one of them): ``run.json`` (the manifest),
``evaluation.json`` (a list of ``EvaluationResult`` dicts; a folder of ``python -m
host.evaluate`` before run folders had one ``results.json`` instead), ``records.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.errors import UserError
from host.records import AttackRecord, EvaluationResult, RecordFile

MANIFEST = "run.json"
EVALUATION = "evaluation.json"
LEGACY_EVALUATION = "results.json"
RECORDS = "records.jsonl"


@dataclass
class RunFolder:
    """What one run wrote."""

    path: Path
    manifest: dict[str, Any]  # run.json, {} when absent
    evaluations: list[EvaluationResult]
    records: list[AttackRecord]

    @property
    def models(self) -> list[str]:
        names = [e.model for e in self.evaluations] + [r.model for r in self.records]
        return list(dict.fromkeys(names))


def load_run(path: str | Path) -> RunFolder:
    """Read a run folder; a UserError when it is missing or holds none of the run files."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"no run folder {folder}")
    files = [folder / name for name in (MANIFEST, EVALUATION, LEGACY_EVALUATION, RECORDS)]
    if not any(file.is_file() for file in files):
        raise UserError(
            f"{folder} is not a run folder: none of {MANIFEST}, {EVALUATION}, {RECORDS} in it"
        )
    manifest = _json(folder / MANIFEST) if (folder / MANIFEST).is_file() else {}
    if not isinstance(manifest, dict):
        raise UserError(f"{folder / MANIFEST} is not a JSON object")
    return RunFolder(folder, manifest, _evaluations(folder), RecordFile(folder / RECORDS).read())


def _evaluations(folder: Path) -> list[EvaluationResult]:
    for name in (EVALUATION, LEGACY_EVALUATION):
        file = folder / name
        if file.is_file():
            content = _json(file)
            items = content if isinstance(content, list) else [content]
            try:
                return [EvaluationResult.from_dict(item) for item in items]
            except (TypeError, KeyError, AttributeError) as error:
                raise UserError(f"{file} is not a clean evaluation ({error})") from error
    return []


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{file} is not JSON (line {error.lineno}: {error.msg})") from error


def latest_run(runs: Path) -> Path:
    """The newest run folder under ``runs`` (folders named ``<UTC stamp>-<name>`` sort by time)."""
    names = (MANIFEST, EVALUATION, LEGACY_EVALUATION, RECORDS)
    folders = [p for p in runs.glob("*/") if any((p / name).is_file() for name in names)]
    if not folders:
        raise UserError(f"no run folder under {runs}/: run python -m host.evaluate first")
    return max(folders, key=_age)


def _age(folder: Path) -> tuple[bool, str, float]:
    """Sort key: stamped folders by their stamp, after any other folder (by modification time)."""
    stamped = len(folder.name) >= 15 and folder.name[:15].replace("-", "", 1).isdigit()
    return stamped, folder.name if stamped else "", folder.stat().st_mtime
