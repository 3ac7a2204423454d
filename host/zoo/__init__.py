"""The model zoo: which models exist, where their files are, how to import the pretrained ones.

Every entry is declared by a TOML file, ``models/<name>/model.toml`` (the keys are the fields
of ModelSpec). Own models (trained by ``python -m host.train``) are committed next to it, in
``models/<name>/``. MLPerf Tiny models are imported by URL and checksum (or from an offline
mirror directory, ``$TINYROBUST_MODEL_MIRROR``) into the cache, never committed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from host import datafile
from host.data import Download, DownloadError, cache_dir, fetch, verify_checksum
from host.errors import UserError
from host.paths import MODELS

MODELS_DIR = MODELS
ENTRY_FILE = "model.toml"
MIRROR_ENV = "TINYROBUST_MODEL_MIRROR"
PRECISIONS = ("float", "int8", "int16")
ORIGINS = ("own", "mlperf")
CALIBRATIONS = ("train", "eval-head")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model of the zoo and how its inputs relate to [0,1] images."""

    name: str  # the folder of its model.toml
    architecture: str
    dataset: str
    eval_split: str
    train_split: str | None = None
    origin: str  # one of ORIGINS
    input_range: float = 1.0  # the float model takes pixels * input_range
    imports: dict[str, Download] = field(default_factory=dict)  # precision -> official file
    mirrors: dict[str, str] = field(default_factory=dict)  # precision -> path in the mirror
    calibration: str = "train"  # "train" or "eval-head": a recorded head of the eval split
    description: str = ""


def load_spec(path: Path) -> ModelSpec:
    """The zoo entry declared by ``path`` (``<name>/model.toml``), checked field by field."""
    entry = datafile.load(ModelSpec, path, name=path.parent.name)
    _check_choice(path, "origin", entry.origin, ORIGINS)
    _check_choice(path, "calibration", entry.calibration, CALIBRATIONS)
    for precision, download in entry.imports.items():
        _check_choice(path, "imports", precision, PRECISIONS)
        if download.sha256 is None:
            raise UserError(f"{path}: missing field 'imports.{precision}.sha256'")
    for precision in entry.mirrors:
        _check_choice(path, "mirrors", precision, tuple(entry.imports))
    if entry.origin == "own" and entry.imports:
        raise UserError(f"{path}: field 'imports' is for imported models, not origin 'own'")
    return entry


def _check_choice(path: Path, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        known = ", ".join(choices)
        raise UserError(f"{path}: field {name!r} has {value!r}; one of: {known}")


def load_zoo(directory: Path) -> dict[str, ModelSpec]:
    """Every entry declared under ``directory`` (``*/model.toml``): own models first."""
    entries = [load_spec(path) for path in sorted(directory.glob(f"*/{ENTRY_FILE}"))]
    return {e.name: e for e in sorted(entries, key=lambda e: (e.origin != "own", e.name))}


@functools.cache
def entries() -> dict[str, ModelSpec]:
    """The zoo of this checkout (models/), read once."""
    return load_zoo(MODELS)


def __getattr__(name: str) -> dict[str, ModelSpec]:
    # ZOO is read on first use, so that a broken model.toml is a one-line UserError inside a
    # command rather than a traceback when the module is imported.
    if name == "ZOO":
        return entries()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SUFFIX = {"float": ".keras", "int8": ".tflite", "int16": ".tflite"}


def spec(name: str) -> ModelSpec:
    """The zoo entry for a model name, or a UserError listing the known names."""
    zoo = entries()
    if name not in zoo:
        raise UserError(f"unknown model {name!r}; known: {', '.join(zoo)}")
    return zoo[name]


def model_dir(name: str) -> Path:
    """Where a model's files live: models/<name> for own models, the cache for imported ones."""
    entry = spec(name)
    if entry.origin == "own":
        return MODELS / name
    path = cache_dir() / "models" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_file(name: str, precision: str) -> Path:
    """The file of one precision of a model (importing it first when it is a pretrained one)."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    entry = spec(name)
    directory = model_dir(name)
    if precision in entry.imports:
        download = entry.imports[precision]
        suffix = ".h5" if download.url.endswith(".h5") else ".tflite"
        path = directory / f"{precision}{suffix}"
        if not path.is_file():
            _import(entry.mirrors.get(precision), download, path)
        return path
    path = directory / f"{precision}{_SUFFIX[precision]}"
    if not path.is_file():
        how = "python -m host.train" if entry.origin == "own" else "python -m host.quantize"
        raise UserError(f"model {name} has no {precision} file {path}; make it with `{how}`")
    return path


def _import(mirror_name: str | None, download: Download, path: Path) -> None:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and mirror_name and (Path(mirror) / mirror_name).is_file():
        shutil.copyfile(Path(mirror) / mirror_name, path)
        verify_checksum(path, download)
        return
    try:
        fetch(download, path)
    except DownloadError as error:
        offline = f"set {MIRROR_ENV} to a folder holding {mirror_name}" if mirror_name else ""
        offline = offline or f"put the file at {path}"
        raise DownloadError(f"{error}; offline: {offline} (docs/data.md)") from error


def manifest_path(name: str) -> Path:
    return model_dir(name) / "manifest.json"


def read_manifest(name: str) -> dict:
    path = manifest_path(name)
    return json.loads(path.read_text()) if path.is_file() else {}


def write_manifest(name: str, manifest: dict) -> Path:
    path = manifest_path(name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path
