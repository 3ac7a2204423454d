"""Run folders: every run writes its own ``runs/<UTC stamp>-<name>/``.

    run.json          the manifest: command, the campaign as resolved, model file hashes,
                      package versions, the board's HELLO when a board was used, start, end
    evaluation.json   clean evaluations, one per model (``EvaluationResult.to_dict()``)
    records.jsonl     attack records (``host.records.AttackRecord``), appended line by line
    resume.json       per model, what its records depend on besides each attack's config id
                      (``host.run.campaign.resume_key``): a resume with other ones is refused
    gradients.json    per model, the gradient-masking audit's measurements
                      (``host.metrics.measure``), with the model files they were made on
    summary.json/.md  built from the records only

A run resumes in its folder on purpose only (``resume_folder``); a new one is never reused.
The report (``host.report``) reads these files and nothing else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from host import data, zoo
from host.backends import Backend
from host.errors import UserError
from host.records import AttackRecord, EvaluationResult
from host.report import summarise_run, summary_markdown
from host.report.audit import GRADIENTS, read_gradients
from host.report.run_folder import EVALUATION, MANIFEST, RECORDS
from host.versions import package_versions

SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
RESUME = "resume.json"


def new_folder(out: str | Path, name: str) -> Path:
    """A new folder ``<out>/<UTC time>-<name>`` (suffixed -2, -3... if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(out) / f"{stamp}-{name}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = Path(out) / f"{stamp}-{name}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def resume_folder(path: str | Path) -> Path:
    """An existing run folder to resume (a UserError when it is not one)."""
    folder = Path(path)
    if not (folder / MANIFEST).is_file() and not (folder / RECORDS).is_file():
        raise UserError(f"{folder} is not a run folder to resume: no {MANIFEST} or {RECORDS}")
    return folder


def model_files(model: str, precisions: list[str]) -> dict[str, dict[str, str]]:
    """Path and sha256 of a zoo model's file for each precision that has one."""
    files = {}
    for precision in precisions:
        try:
            path = zoo.model_file(model, precision)
        except UserError:
            continue
        files[precision] = {"path": str(path), "sha256": data.sha256_file(path)}
    return files


def board_info(backends: dict[str, Backend]) -> dict[str, Any] | None:
    """The HELLO of the board among ``backends`` (None when no board was used)."""
    for backend in backends.values():
        info = getattr(getattr(backend, "device", None), "info", None)
        if info is not None:
            return {
                "url": getattr(backend, "url", None),
                "board": info.board,
                "engine": info.engine,
                "model": info.model,
                "model_sha256": info.model_sha256,
                "arena_bytes": info.arena_bytes,
                "weight_bytes": info.weight_bytes,
                "counter_unit": info.counter_unit,
            }
    return None


def check_resume_key(folder: Path, model: str, key: dict[str, Any], recorded: bool) -> None:
    """Record ``key`` (``host.run.campaign.resume_key``) for ``model`` in the folder's
    resume.json, or refuse in one line when it differs from the recorded one (model files:
    those both used) or, with records of ``model`` there, when none is recorded."""
    path = folder / RESUME
    keys = _read_json(path, {})
    old = keys.get(model)
    if old is None and recorded:
        raise UserError(
            f"{folder} holds records of {model} without {RESUME} (an older version wrote them): "
            "they cannot be checked against this run; start a new run folder"
        )
    if old is not None:
        changes = _key_changes(model, old, key)
        if changes:
            was = "; ".join(before for before, _ in changes)
            now = "; ".join(after for _, after in changes)
            raise UserError(
                f"{folder} was recorded with {was}; this run has {now}: start a new run folder, "
                "or rerun with what it was recorded with"
            )
        key = {**key, "model_files": {**old["model_files"], **key["model_files"]}}
    keys[model] = key
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=1, sort_keys=True) + "\n")


def _key_changes(model: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(was, is) for each part of a resume key that differs."""
    changes = []
    if old["backends"] != new["backends"]:
        changes.append((f"backends {','.join(old['backends'])}", ",".join(new["backends"])))
    shared = sorted(old["model_files"].keys() & new["model_files"].keys())
    files = [p for p in shared if old["model_files"][p] != new["model_files"][p]]
    if files:
        changes.append(
            (
                f"{model} " + ", ".join(f"{p} file {old['model_files'][p][:12]}" for p in files),
                ", ".join(f"{p} file {new['model_files'][p][:12]}" for p in files),
            )
        )
    if old["board"] != new["board"]:
        changes.append((_board_text(old["board"]), _board_text(new["board"])))
    if old["data"] != new["data"]:
        changes.append(
            (
                f"data {old['data']['dataset']} {old['data']['sha256'][:12]}",
                f"{new['data']['dataset']} {new['data']['sha256'][:12]}",
            )
        )
    return changes


def _board_text(board: dict[str, str] | None) -> str:
    if board is None:
        return "no board"
    return f"board {board['board']} ({board['engine']}, model {board['model_sha256'][:12]})"


class Manifest:
    """run.json, written once the run has started work (``add_model``) and again at its end."""

    def __init__(self, folder: Path, command: list[str], campaign: dict[str, Any]) -> None:
        self.folder = folder
        self._started = datetime.now(UTC)
        previous = _read_json(folder / MANIFEST, {})
        self.values: dict[str, Any] = {
            "command": command,
            "campaign": campaign,
            "models": previous.get("models", {}),
            "versions": package_versions(),
            "board": previous.get("board"),
            "started": self._started.isoformat(timespec="seconds"),
            "ended": None,
            "seconds": None,
        }
        if previous:
            self.values["resumed_from"] = {k: previous.get(k) for k in ("started", "command")}

    def add_model(self, model: str, files: dict[str, dict[str, str]]) -> None:
        self.values["models"][model] = {"files": files}
        self.write()

    def add_board(self, backends: dict[str, Backend]) -> None:
        info = board_info(backends)
        if info is not None:
            self.values["board"] = info
            self.write()

    def finish(self) -> float:
        """Record the end time; the run's duration in seconds."""
        ended = datetime.now(UTC)
        seconds = (ended - self._started).total_seconds()
        self.values.update(ended=ended.isoformat(timespec="seconds"), seconds=round(seconds, 1))
        self.write()
        return seconds

    def write(self) -> None:
        (self.folder / MANIFEST).write_text(json.dumps(self.values, indent=1) + "\n")


def add_evaluation(folder: Path, result: EvaluationResult) -> Path:
    """Add a clean evaluation to evaluation.json (replacing an earlier one of the same model)."""
    path = folder / EVALUATION
    kept = [e for e in _read_json(path, []) if e.get("model") != result.model]
    path.write_text(json.dumps([*kept, result.to_dict()], indent=1) + "\n")
    result.path = path
    return path


def write_summary(
    folder: Path, records: list[AttackRecord], files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """summary.json and summary.md from the records (``files``: model -> precision -> hash)."""
    summary = summarise_run(records, files, read_gradients(folder))
    (folder / SUMMARY_JSON).write_text(json.dumps(summary, indent=1) + "\n")
    (folder / SUMMARY_MD).write_text(summary_markdown(summary) + "\n")
    return summary


def has_gradients(folder: Path, model: str, files: dict[str, dict[str, str]]) -> bool:
    """Whether gradients.json holds measurements of ``model`` made on these model files."""
    entry = read_gradients(folder).get(model)
    return entry is not None and entry.get("model_files") == files


def add_gradients(
    folder: Path, model: str, files: dict[str, dict[str, str]], measured: dict[str, Any]
) -> None:
    """Add (or replace) a model's measurements in gradients.json, with its model files."""
    values = read_gradients(folder)
    values[model] = {**measured, "model_files": files}
    (folder / GRADIENTS).write_text(json.dumps(values, indent=1) + "\n")


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return default
