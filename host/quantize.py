"""Post-training quantization following the TFLite Micro policy, and model manifests.

``python -m host.quantize --model cifar10-resnet8`` converts the float model into
- int8: full-integer, per-channel int8 weights, int8 input and output;
- int16: TFLite "16x8" (int16 activations, int8 weights, int64 bias), int16 input and output;
with batch size 1 (a small op set) and calibration on training images only: a seeded sample
whose indices are recorded in the manifest. It then measures accuracy on the evaluation split
for every backend and writes ``manifest.json`` beside the files.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import sys
from pathlib import Path

import numpy as np

from host import data as datasets
from host import zoo
from host.backends import available_backends, get_backend
from host.errors import UserError, cli_main
from host.versions import package_versions

CALIBRATION_SIZE = 500
CALIBRATION_SEED = 1234


def load_float_model(name: str):
    """The float Keras model of a zoo entry, rebuilt with batch size 1."""
    import keras  # TensorFlow loads only when a model is built

    from host.zoo.architectures import rebatch  # imports keras

    entry = zoo.spec(name)
    path = zoo.model_file(name, "float")
    try:
        model = keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load float model {path}: {error}") from error
    return rebatch(model, entry.architecture, batch_size=1)


def calibration_indices(n_available: int, size: int = CALIBRATION_SIZE) -> np.ndarray:
    """Seeded, sorted sample of training indices used for calibration."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    return np.sort(rng.choice(n_available, size=min(size, n_available), replace=False))


def convert(model, calibration: np.ndarray, precision: str) -> bytes:
    """Convert a batch-1 Keras model to a full-integer .tflite (int8 or int16x8)."""
    import tensorflow as tf

    def representative():
        for image in calibration:
            yield [image[np.newaxis].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    if precision == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision == "int16":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    else:
        raise UserError(f"cannot quantize to {precision!r}; choose int8 or int16")
    with contextlib.redirect_stdout(io.StringIO()):  # the converter chats on stdout
        return converter.convert()


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
    name: str, precisions: tuple[str, ...] = ("int8", "int16"), data_dir: str | None = None
) -> Path:
    """Write <precision>.tflite for each precision and the model's manifest."""
    entry = zoo.spec(name)
    if entry.train_split is None:
        raise UserError(f"{name} has no training images here to calibrate on")
    train_set = datasets.load(entry.dataset, entry.train_split, data_dir)
    indices = calibration_indices(len(train_set))
    calibration = train_set.x[indices].astype(np.float32) / 255.0 * entry.input_range
    model = load_float_model(name)
    out = zoo.model_dir(name)
    for precision in precisions:
        if precision in entry.imports:
            print(f"{name}: {precision} is the imported official file; not re-quantized")
            continue
        print(f"{name}: converting to {precision} ({len(indices)} calibration images)")
        (out / f"{precision}.tflite").write_bytes(convert(model, calibration, precision))
    return write_model_manifest(name, indices, train_set, data_dir)


def write_model_manifest(
    name: str, indices: np.ndarray, train_set: datasets.Dataset, data_dir: str | None
) -> Path:
    """Manifest: hashes, quantization, accuracy per backend, versions, provenance."""
    entry = zoo.spec(name)
    out = zoo.model_dir(name)
    files = {
        p.name: datasets.sha256_file(p)
        for p in sorted(out.glob("*"))
        if p.suffix in (".keras", ".h5", ".tflite")
    }
    variants = {
        precision: tensor_quantization(out / f"{precision}.tflite")
        for precision in ("int8", "int16")
        if (out / f"{precision}.tflite").is_file()
    }
    manifest = {
        "model": name,
        "architecture": entry.architecture,
        "origin": entry.origin,
        "description": entry.description,
        "files_sha256": files,
        "variants": variants,
        "calibration": {
            "split": f"{entry.dataset}/{entry.train_split}",
            "source": train_set.source,
            "seed": CALIBRATION_SEED,
            "count": len(indices),
            "indices": [int(i) for i in indices],
        },
        "accuracy": measure_accuracy(name, data_dir),
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    training = out / "training.json"
    if training.is_file():
        manifest["training"] = "training.json"
    return zoo.write_manifest(name, manifest)


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
    parser = argparse.ArgumentParser(
        prog="python -m host.quantize", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="zoo model name, e.g. cifar10-resnet8")
    parser.add_argument("--precisions", default="int8,int16", help="comma-separated")
    parser.add_argument(
        "--data-dir", help=f"offline data directory (else ${datasets.DATA_DIR_ENV})"
    )
    args = parser.parse_args(argv)
    precisions = tuple(p for p in args.precisions.split(",") if p)
    path = quantize_model(args.model, precisions, args.data_dir)
    print(f"manifest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
