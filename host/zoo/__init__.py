"""The model zoo: which models exist, where their files are, how to import the pretrained ones.

A model is named three ways, resolved here and only here (``spec`` and ``model_file``):
- a zoo name: ``models/<name>/model.toml`` declares it (the keys are the fields of ModelSpec).
  Own models (trained by ``python -m host.train``) are committed next to it, in
  ``models/<name>/``. MLPerf Tiny models are imported by URL and checksum (or from an offline
  mirror directory, ``$TINYROBUST_MODEL_MIRROR``) into the cache, never committed; the
  precisions they lack (``derive``) are quantized from their float model into the cache on
  first use;
- a user's folder holding a ``model.toml`` of the same schema and the model's files;
- a user's model file declared with its data set (``declare_file``), e.g. ``--tflite``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

from host.data import (
    SPLITS,
    Download,
    DownloadError,
    cache_dir,
    fetch,
    sha256_file,
    verify_checksum,
)
from host.errors import UserError
from host.paths import MODELS
from host.zoo.entry import (
    CALIBRATIONS,
    DEFAULT_FILES,
    ENTRY_FILE,
    EVAL_SPLITS,
    ORIGINS,
    PRECISIONS,
    ModelSpec,
    load_spec,
)

MODELS_DIR = MODELS
MIRROR_ENV = "TINYROBUST_MODEL_MIRROR"
MODEL_SUFFIXES = (".keras", ".h5", ".tflite")
__all__ = [  # the declaration, from host.zoo.entry
    "CALIBRATIONS",
    "DEFAULT_FILES",
    "ENTRY_FILE",
    "EVAL_SPLITS",
    "ORIGINS",
    "PRECISIONS",
    "ModelSpec",
    "load_spec",
]


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


_DECLARED: dict[str, ModelSpec] = {}  # model files declared in this process (declare_file)


def spec(model: str | Path) -> ModelSpec:
    """The entry of a model: a zoo name, a user's folder with a model.toml, or a model file
    declared with ``declare_file``; a UserError listing the known names otherwise."""
    key = str(model)
    zoo = entries()
    if key in zoo:
        return zoo[key]
    if key in _DECLARED:
        return _DECLARED[key]
    path = Path(key)
    if (path / ENTRY_FILE).is_file():
        return load_spec(path / ENTRY_FILE)
    if path.is_dir():
        raise UserError(
            f"{path} has no {ENTRY_FILE} (files, data set, input range: docs/models.md)"
        )
    if path.suffix in MODEL_SUFFIXES and path.is_file():
        raise UserError(f"{path} is a model file: give its data set too (--dataset)")
    raise UserError(
        f"unknown model {key!r}; known: {', '.join(zoo)}, or a folder with a {ENTRY_FILE}"
    )


def declare_file(
    path: str | Path,
    dataset: str | None,
    precision: str,
    split: str | None = None,
    input_range: float = 1.0,
) -> str:
    """Make one model file (float .keras/.h5, int8 or int16 .tflite) a model for ``dataset``;
    returns the name ``spec`` and every command then accept (the file's path)."""
    path = Path(path)
    known = ", ".join(SPLITS)
    if not dataset:
        raise UserError(f"a model file needs its data set (one of: {known})")
    if dataset not in SPLITS:
        raise UserError(f"unknown data set {dataset!r}; known: {known}")
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    split = split or EVAL_SPLITS[dataset]
    if split not in SPLITS[dataset]:
        raise UserError(
            f"data set {dataset} has no split {split!r}; known: {', '.join(SPLITS[dataset])}"
        )
    _DECLARED[str(path)] = ModelSpec(
        name=path.stem,
        folder=path.parent,
        dataset=dataset,
        eval_split=split,
        input_range=input_range,
        files={precision: path.name},
        description=f"the user's {precision} model file {path}",
    )
    return str(path)


def adopt(model: str, entry: ModelSpec) -> None:
    """Make a model another process resolved (``spec``) known here: a Ray worker gets the
    command's user models and declared files this way."""
    if str(model) not in entries():
        _DECLARED[str(model)] = entry


def model_dir(model: str | Path) -> Path:
    """Where a model's files live: its folder for own and user models, the cache for imported
    ones (their official files and the precisions derived from them)."""
    entry = spec(model)
    if entry.origin != "mlperf":
        return entry.folder
    path = cache_dir() / "models" / entry.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_file(model: str | Path, precision: str) -> Path:
    """The file of one precision of a model (importing or deriving it first for an imported
    model)."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    entry = spec(model)
    directory = model_dir(model)
    if precision in entry.imports:
        download = entry.imports[precision]
        suffix = ".h5" if download.url.endswith(".h5") else ".tflite"
        path = directory / f"{precision}{suffix}"
        if not path.is_file():
            _import(entry.mirrors.get(precision), download, path)
        return path
    path = directory / entry.files.get(precision, DEFAULT_FILES[precision])
    if precision in entry.derive:
        return _derived(entry, precision, path)
    if not path.is_file():
        raise UserError(
            f"model {entry.name} has no {precision} file {path}{_how(entry, precision)}"
        )
    return path


def _how(entry: ModelSpec, precision: str) -> str:
    """How to get a missing file, for the error."""
    if entry.origin == "own":
        return "; make it with `python -m host.train`"
    if precision == "float":
        return ": transfer attacks craft on a float model; direct attacks query an integer one"
    if entry.origin == "user":
        return f"; quantize its float model with `python -m host.quantize --model {entry.folder}`"
    return ""


def has_file(model: str | Path, precision: str) -> bool:
    """Whether a model has (or can import or derive) a file of this precision."""
    try:
        model_file(model, precision)
    except UserError:
        return False
    return True


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


def _derived(entry: ModelSpec, precision: str, path: Path) -> Path:
    """A precision quantized from the imported float model, built once into the cache; its
    record (``<precision>.json``: source and file hashes, calibration) is checked on use."""
    record_path = path.with_suffix(".json")
    if path.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("sha256") == sha256_file(path):
            return path
    from host.zoo.quantizer import derive  # TensorFlow loads only when a file is derived

    record = derive(entry, model_file(entry.name, "float"), precision, path)
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def manifest_path(model: str | Path) -> Path:
    return model_dir(model) / "manifest.json"


def read_manifest(model: str | Path) -> dict:
    path = manifest_path(model)
    return json.loads(path.read_text()) if path.is_file() else {}


def write_manifest(model: str | Path, manifest: dict) -> Path:
    path = manifest_path(model)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path
