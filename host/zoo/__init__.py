"""The model zoo: which models exist, where their files are, how to import the pretrained ones.

Own models (trained by ``python -m host.train``) are committed under ``models/<name>/``.
MLPerf Tiny models are imported by URL and checksum (or from an offline mirror directory,
``$TINYROBUST_MODEL_MIRROR``) into the cache, never committed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from host.data import Download, cache_dir, fetch, verify_checksum
from host.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
MIRROR_ENV = "TINYROBUST_MODEL_MIRROR"
PRECISIONS = ("float", "int8", "int16")

_MLPERF = "https://github.com/mlcommons/tiny/raw/master/benchmark/training"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo and how its inputs relate to [0,1] images."""

    name: str
    architecture: str
    dataset: str
    eval_split: str
    train_split: str | None
    origin: str  # "own" or "mlperf"
    input_range: float = 1.0  # the float model takes pixels * input_range
    imports: dict[str, Download] = field(default_factory=dict)  # precision -> official file
    calibration: str = "train"  # "train" or "eval-head": a recorded head of the eval split
    description: str = ""


ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "cifar10-resnet8",
            "resnet8",
            "cifar10",
            "test",
            "train",
            "own",
            description="MLPerf Tiny ResNet-8 trained by tinyrobust on CIFAR-10",
        ),
        ModelSpec(
            "coffee-cnn",
            "coffee_cnn",
            "coffee",
            "test",
            "train",
            "own",
            description="the seed paper's plain CNN trained by tinyrobust on BRACOL (4 classes)",
        ),
        ModelSpec(
            "mlperf-resnet8",
            "resnet8",
            "cifar10",
            "test",
            "train",
            "mlperf",
            input_range=255.0,
            imports={
                "float": Download(
                    f"{_MLPERF}/image_classification/trained_models/pretrainedResnet.h5",
                    sha256="5f938a8eea605438cc7360aa13c987bc6d7bd0c8d931b2917361ae7ae4eeda2f",
                ),
                "int8": Download(
                    f"{_MLPERF}/image_classification/trained_models/pretrainedResnet_quant.tflite",
                    sha256="3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415",
                ),
            },
            description="MLPerf Tiny reference ResNet-8 (pretrained, imported)",
        ),
        ModelSpec(
            "mlperf-vww",
            "mobilenet_v1_025",
            "vww",
            "eval",
            None,
            "mlperf",
            imports={
                "int8": Download(
                    f"{_MLPERF}/visual_wake_words/trained_models/vww_96_int8.tflite",
                    sha256="597a384c8c2c8a1276f04702f25013b7838f2f814f1ca7c174d295b73e3d6b7b",
                ),
            },
            calibration="eval-head",
            description="MLPerf Tiny reference MobileNetV1-0.25 for Visual Wake Words (imported)",
        ),
        ModelSpec(
            "mlperf-kws",
            "ds_cnn",
            "kws",
            "eval",
            None,
            "mlperf",
            imports={
                "int8": Download(
                    f"{_MLPERF}/keyword_spotting/trained_models/kws_ref_model.tflite",
                    sha256="aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae",
                ),
            },
            description="MLPerf Tiny reference DS-CNN, keyword spotting (imported, int8 MFCC in)",
        ),
    )
}

_MIRROR_NAMES = {
    ("mlperf-resnet8", "float"): "mlperf_tiny/pretrainedResnet.h5",
    ("mlperf-resnet8", "int8"): "mlperf_tiny/pretrainedResnet_quant.tflite",
    ("mlperf-vww", "int8"): "mlperf_tiny/vww_96_int8.tflite",
    ("mlperf-kws", "int8"): "mlperf_tiny/kws_ref_model.tflite",
}
_SUFFIX = {"float": ".keras", "int8": ".tflite", "int16": ".tflite"}


def spec(name: str) -> ModelSpec:
    """The zoo entry for a model name, or a UserError listing the known names."""
    if name not in ZOO:
        raise UserError(f"unknown model {name!r}; known: {', '.join(ZOO)}")
    return ZOO[name]


def model_dir(name: str) -> Path:
    """Where a model's files live: models/<name> for own models, the cache for imported ones."""
    entry = spec(name)
    if entry.origin == "own":
        return MODELS_DIR / name
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
            _import(name, precision, download, path)
        return path
    path = directory / f"{precision}{_SUFFIX[precision]}"
    if not path.is_file():
        how = "python -m host.train" if entry.origin == "own" else "python -m host.quantize"
        raise UserError(f"model {name} has no {precision} file {path}; make it with `{how}`")
    return path


def _import(name: str, precision: str, download: Download, path: Path) -> None:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and (Path(mirror) / _MIRROR_NAMES[(name, precision)]).is_file():
        shutil.copyfile(Path(mirror) / _MIRROR_NAMES[(name, precision)], path)
        verify_checksum(path, download)
        return
    fetch(download, path)


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
