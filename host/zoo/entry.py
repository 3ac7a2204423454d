"""A model's declaration: the ModelSpec dataclass, read from a ``model.toml`` and checked.

The same schema declares the zoo's entries (``models/<name>/model.toml``) and a user's model
folder; docs/models.md lists the keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from host import datafile
from host.data import SPLITS, Download
from host.errors import UserError

ENTRY_FILE = "model.toml"
PRECISIONS = ("float", "int8", "int16")
ORIGINS = ("own", "mlperf", "user")
CALIBRATIONS = ("train", "eval-tail")
EVAL_SPLITS = {"cifar10": "test", "vww": "eval", "coffee": "test", "kws": "eval"}
DEFAULT_FILES = {"float": "float.keras", "int8": "int8.tflite", "int16": "int16.tflite"}
# train-based defenses (host/zoo/robust_training.py): an own model fine-tuned from ``base``
DEFENSES = ("adv-train", "ensemble-adv-train", "distillation", "sinkhorn-adv-train")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model and how its inputs relate to [0,1] images."""

    name: str  # the folder of its model.toml (a file's stem for a declared file)
    folder: Path  # where its model.toml is (own and user models keep their files there)
    dataset: str
    eval_split: str = ""  # default: the data set's evaluation split (EVAL_SPLITS)
    train_split: str | None = None
    origin: str = "user"  # one of ORIGINS
    architecture: str = ""  # own: a builder of architectures.py; imported: its name
    input_range: float = 1.0  # the float model takes pixels * input_range
    files: dict[str, str] = field(default_factory=dict)  # precision -> file (default names)
    labels: tuple[str, ...] = ()  # class names, in output order (default: the data set's)
    imports: dict[str, Download] = field(default_factory=dict)  # precision -> official file
    mirrors: dict[str, str] = field(default_factory=dict)  # precision -> path in the mirror
    derive: tuple[str, ...] = ()  # imported: precisions quantized here from the float import
    calibration: str = "train"  # "train", or "eval-tail": a recorded tail of the eval split
    description: str = ""
    base: str = ""  # a defended own model: the zoo model it was fine-tuned from
    defense: str = ""  # ... and its defense, one of DEFENSES


def load_spec(path: Path) -> ModelSpec:
    """The model declared by ``path`` (``<name>/model.toml``), checked field by field."""
    entry = datafile.load(ModelSpec, path, name=path.parent.name, folder=path.parent)
    _check_choice(path, "origin", entry.origin, ORIGINS)
    _check_choice(path, "dataset", entry.dataset, tuple(SPLITS))
    if not entry.eval_split:
        entry = dataclasses.replace(entry, eval_split=EVAL_SPLITS[entry.dataset])
    _check_choice(path, "eval_split", entry.eval_split, SPLITS[entry.dataset])
    _check_choice(path, "calibration", entry.calibration, CALIBRATIONS)
    if entry.origin != "user" and not entry.architecture:
        raise UserError(f"{path}: missing field 'architecture'")
    for precision in entry.files:
        _check_choice(path, "files", precision, PRECISIONS)
    for precision, download in entry.imports.items():
        _check_choice(path, "imports", precision, PRECISIONS)
        if download.sha256 is None:
            raise UserError(f"{path}: missing field 'imports.{precision}.sha256'")
    for precision in entry.mirrors:
        _check_choice(path, "mirrors", precision, tuple(entry.imports))
    if entry.origin != "mlperf" and entry.imports:
        raise UserError(
            f"{path}: field 'imports' is for imported models, not origin {entry.origin!r}"
        )
    for precision in entry.derive:
        _check_choice(path, "derive", precision, ("int8", "int16"))
        if "float" not in entry.imports or precision in entry.imports:
            raise UserError(
                f"{path}: 'derive' needs an imported float model and a precision not imported"
            )
    if entry.defense or entry.base:
        if entry.origin != "own" or not (entry.defense and entry.base):
            raise UserError(f"{path}: 'base' and 'defense' go together, in an own model")
        _check_choice(path, "defense", entry.defense, DEFENSES)
    return entry


def _check_choice(path: Path, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        known = ", ".join(choices)
        raise UserError(f"{path}: field {name!r} has {value!r}; one of: {known}")
