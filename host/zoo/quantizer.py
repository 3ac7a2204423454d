"""Post-training quantization following the TFLite Micro policy (the library behind
``python -m host.quantize``).

- int8: full-integer, per-channel int8 weights, int8 input and output;
- int16: TFLite "16x8" (int16 activations, int8 weights, int64 bias), int16 input and output;
with batch size 1 (a small op set) and calibration images that are recorded: a seeded sample
of the training split, or (``calibration = "eval-tail"``, for a data set without training
images here) the last ``EVAL_TAIL`` images of the evaluation split, which the evaluation of
that variant then leaves out.
"""

from __future__ import annotations

import contextlib
import datetime
import io
from pathlib import Path

import numpy as np
from tqdm import tqdm

from host import data as datasets
from host.errors import UserError
from host.versions import package_versions
from host.zoo.entry import ModelSpec

CALIBRATION_SIZE = 500
CALIBRATION_SEED = 1234
EVAL_TAIL = 200  # eval-tail calibration: the last 200 images of the evaluation split


def float_model_batch1(entry: ModelSpec, path: Path):
    """The float Keras model of ``entry`` (its file ``path``), with batch size 1."""
    from host.zoo import keras_file  # imports keras (TensorFlow): only when a model is built
    from host.zoo.architectures import ARCHITECTURES, rebatch  # imports keras

    loaded = keras_file.load(path)
    if entry.origin == "own" and entry.architecture in ARCHITECTURES:
        return rebatch(loaded, entry.architecture, batch_size=1)
    return keras_file.with_batch_size(loaded, 1)


def calibration_indices(n_available: int, size: int = CALIBRATION_SIZE) -> np.ndarray:
    """Seeded, sorted sample of training indices used for calibration."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    return np.sort(rng.choice(n_available, size=min(size, n_available), replace=False))


def calibration_set(
    entry: ModelSpec, data_dir: str | None = None
) -> tuple[datasets.Dataset, np.ndarray]:
    """The split calibration draws from and the indices of its calibration images (the
    training split: the entry's, else the data set's ``train``)."""
    if entry.calibration == "eval-tail":
        evaluation = datasets.load(entry.dataset, entry.eval_split, data_dir)
        return evaluation, np.arange(max(0, len(evaluation) - EVAL_TAIL), len(evaluation))
    train_split = entry.train_split or (
        "train" if "train" in datasets.SPLITS[entry.dataset] else None
    )
    if train_split is None:
        raise UserError(
            f"{entry.name}: data set {entry.dataset} has no training split to calibrate on"
        )
    train_set = datasets.load(entry.dataset, train_split, data_dir)
    return train_set, calibration_indices(len(train_set))


def calibration_record(entry: ModelSpec, source: datasets.Dataset, indices: np.ndarray) -> dict:
    """What the calibration used, for manifests."""
    return {
        "split": f"{source.name}/{source.split}",
        "kind": entry.calibration,
        "source": source.source,
        "seed": CALIBRATION_SEED if entry.calibration == "train" else None,
        "count": len(indices),
        "indices": [int(i) for i in indices],
    }


def convert(
    model,
    calibration: np.ndarray,
    precision: str,
    progress: str | None = None,
    *,
    float_io: bool = False,
    per_channel: bool = True,
) -> bytes:
    """Convert a batch-1 Keras model to a full-integer .tflite (int8 or int16x8); ``progress``
    labels a progress line (on stderr) while it converts. ``float_io``: keep the converter's
    default float32 input and output (a QUANTIZE first, a DEQUANTIZE last); ``per_channel``
    False: per-tensor weights."""
    import tensorflow as tf  # slow import: only when a model is converted

    def representative():
        for image in calibration:
            yield [image[np.newaxis].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    if not per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    if precision == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.int8
    elif precision == "int16":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        io_type = tf.int16
    else:
        raise UserError(f"cannot quantize to {precision!r}; choose int8 or int16")
    if not float_io:
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    with (
        tqdm(
            total=1, desc=progress, disable=progress is None, bar_format="{desc}: {elapsed}"
        ) as bar,
        contextlib.redirect_stdout(io.StringIO()),  # the converter chats on stdout
    ):
        content = converter.convert()
        bar.update()
    return content


def quantize(
    entry: ModelSpec, float_path: Path, precision: str, out: Path, data_dir: str | None = None
) -> dict:
    """Quantize the float model ``float_path`` of ``entry`` into ``out``; returns the
    calibration record."""
    source, indices = calibration_set(entry, data_dir)
    images = source.x[indices].astype(np.float32) / 255.0 * entry.input_range
    label = f"{entry.name}: quantizing to {precision} ({len(indices)} calibration images)"
    model = float_model_batch1(entry, float_path)
    out.write_bytes(convert(model, images, precision, progress=label))
    return calibration_record(entry, source, indices)


def derive(entry: ModelSpec, float_path: Path, precision: str, out: Path) -> dict:
    """Quantize an imported model's float file on first use; returns its record (hashes,
    calibration, versions)."""
    calibration = quantize(entry, float_path, precision, out)
    return {
        "model": entry.name,
        "precision": precision,
        "sha256": datasets.sha256_file(out),
        "float_sha256": datasets.sha256_file(float_path),
        "calibration": calibration,
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
