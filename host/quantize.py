"""Post-training quantization following the TFLite Micro policy, and model manifests.

``python -m host.quantize --model cifar10-resnet8`` converts the float model into
- int8: full-integer, per-channel int8 weights, int8 input and output;
- int16: TFLite "16x8" (int16 activations, int8 weights, int64 bias), int16 input and output;
with batch size 1 (a small op set) and calibration on training images only: a seeded sample
whose indices are recorded in the manifest (``host/zoo/quantizer.py``). It then measures
accuracy on the evaluation split for every backend and writes ``manifest.json`` beside the
files. ``--model`` also takes a user's model folder (docs/models.md) with a float model.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np

from host import data as datasets
from host import zoo
from host.backends import INTEGER_PRECISIONS, available_backends, get_backend
from host.errors import CommandParser, UserError, cli_main
from host.versions import package_versions
from host.zoo.quantizer import (
    CALIBRATION_SEED,
    CALIBRATION_SIZE,
    calibration_indices,
    convert,
    float_model_batch1,
    quantize,
)

__all__ = [  # used by the tests and host.train
    "CALIBRATION_SEED",
    "CALIBRATION_SIZE",
    "calibration_indices",
    "convert",
    "load_float_model",
    "quantize_model",
]


def load_float_model(model: str):
    """The float Keras model of a model (a zoo name or a user's folder), batch size 1."""
    return float_model_batch1(zoo.spec(model), zoo.model_file(model, "float"))


def tensor_quantization(tflite_path: Path) -> dict:
    """Input and output shape, dtype, scale and zero point of a .tflite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    summary = {}
    for role, details in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        scale, zero_point = details["quantization"]
        summary[role] = {
            "shape": [int(d) for d in details["shape"]],
            "dtype": np.dtype(details["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zero_point),
        }
    return summary


def quantize_model(
    model: str, precisions: tuple[str, ...] = ("int8", "int16"), data_dir: str | None = None
) -> Path:
    """Write <precision>.tflite for each precision the model does not bring itself, and the
    model's manifest."""
    entry = zoo.spec(model)
    out = zoo.model_dir(model)
    calibration = None
    for precision in precisions:
        if precision in entry.imports or precision in entry.files:
            print(f"{entry.name}: {precision} is the model's own file; not re-quantized")
        elif precision in entry.derive:
            print(f"{entry.name}: {precision} is {zoo.model_file(model, precision)}")
        else:
            path = out / zoo.DEFAULT_FILES[precision]
            float_path = zoo.model_file(model, "float")
            calibration = quantize(entry, float_path, precision, path, data_dir)
    return write_model_manifest(model, calibration, data_dir)


def write_model_manifest(model: str, calibration: dict | None, data_dir: str | None) -> Path:
    """Manifest: hashes, quantization, accuracy per backend, versions, provenance."""
    entry = zoo.spec(model)
    out = zoo.model_dir(model)
    files = {
        p.name: datasets.sha256_file(p)
        for p in sorted(out.glob("*"))
        if p.suffix in zoo.MODEL_SUFFIXES
    }
    variants = {
        precision: tensor_quantization(zoo.model_file(model, precision))
        for precision in ("int8", "int16")
        if zoo.has_file(model, precision)
    }
    manifest = {
        "model": entry.name,
        "architecture": entry.architecture,
        "origin": entry.origin,
        "description": entry.description,
        "files_sha256": files,
        "variants": variants,
        "calibration": calibration,
        "accuracy": measure_accuracy(model, data_dir),
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    training = out / "training.json"
    if training.is_file():
        manifest["training"] = "training.json"
        record = json.loads(training.read_text())
        manifest["training_seconds"] = record.get("training_seconds")
        if entry.defense:
            manifest["defense"] = {
                "name": entry.defense,
                "base": entry.base,
                "parameters": record.get("defense_parameters"),
                "recipe": record.get("recipe"),
            }
    return zoo.write_manifest(model, manifest)


def measure_accuracy(name: str, data_dir: str | None) -> dict:
    """Accuracy on the evaluation split for every backend the model has."""
    entry = zoo.spec(name)
    evaluation = datasets.load(entry.dataset, entry.eval_split, data_dir)
    x01 = evaluation.x.astype(np.float32) / 255.0
    results = {"split": f"{entry.dataset}/{entry.eval_split}", "examples": len(evaluation)}
    for backend_name in available_backends(name):
        backend = get_backend(name, backend_name)
        outputs = backend.run(x01)
        accuracy = float(np.mean(np.argmax(outputs.reshape(len(x01), -1), 1) == evaluation.y))
        results[backend_name] = round(accuracy, 4)
        print(f"{name} {backend_name}: {accuracy:.2%}")
    return results


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m host.quantize", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", required=True, help="zoo model name (e.g. cifar10-resnet8) or model folder"
    )
    parser.add_argument("--precisions", default="int8,int16", help="comma-separated")
    parser.add_argument(
        "--data-dir", help=f"offline data directory (else ${datasets.DATA_DIR_ENV})"
    )
    args = parser.parse_args(argv)
    precisions = tuple(p for p in args.precisions.split(",") if p)
    unknown = [p for p in precisions if p not in INTEGER_PRECISIONS]
    if unknown or not precisions:
        raise UserError(
            f"--precisions takes a comma-separated list of {', '.join(INTEGER_PRECISIONS)}, "
            f"got {args.precisions!r}"
        )
    path = quantize_model(args.model, precisions, args.data_dir)
    print(f"manifest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
