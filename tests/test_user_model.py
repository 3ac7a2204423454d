"""A user's own model: a folder with a model.toml, or one .tflite file with its data set.

The folders are made here from the shipped cifar10-resnet8 files, so a user's model must give
exactly what the zoo model gives on the same examples. Also: the MLPerf VWW float model (a
Keras 2 .h5) read by Keras 3 as tf_keras reads it, and int16 variants derived into the cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from host import api, data, evaluate, zoo
from host.backends import available_backends, get_backend
from host.errors import UserError

SHIPPED = "cifar10-resnet8"
TOML = 'dataset = "cifar10"\nlabels = {labels}\ndescription = "a user\'s ResNet-8"\n'


def make_folder(root: Path, precisions: tuple[str, ...], name: str = "my-resnet") -> Path:
    """A user's model folder: the shipped files of ``precisions`` and a model.toml."""
    folder = root / name
    folder.mkdir()
    for precision in precisions:
        shutil.copy(zoo.model_file(SHIPPED, precision), folder)
    labels = json.dumps(data.CIFAR10_CLASSES)
    (folder / zoo.ENTRY_FILE).write_text(TOML.format(labels=labels))
    return folder


@pytest.fixture()
def full_folder(tmp_path) -> Path:
    return make_folder(tmp_path, ("float", "int8"))


@pytest.fixture()
def int8_folder(tmp_path) -> Path:
    return make_folder(tmp_path, ("int8",), name="my-int8")


def test_a_folder_is_a_model_everywhere_a_name_is(full_folder):
    entry = zoo.spec(str(full_folder))
    assert (entry.name, entry.origin, entry.dataset, entry.eval_split) == (
        "my-resnet",
        "user",
        "cifar10",
        "test",
    )
    assert entry.labels == tuple(data.CIFAR10_CLASSES)
    assert zoo.model_file(str(full_folder), "int8") == full_folder / "int8.tflite"
    assert available_backends(str(full_folder), runtimes=("tflm",)) == ["float", "tflm-int8"]
    with pytest.raises(UserError, match="no int16 file"):
        zoo.model_file(str(full_folder), "int16")


def test_bad_folders_get_one_line(tmp_path):
    with pytest.raises(UserError, match="has no model.toml"):
        zoo.spec(str(tmp_path))
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / zoo.ENTRY_FILE).write_text('dataset = "imagenet"\n')
    with pytest.raises(UserError, match="field 'dataset' has 'imagenet'"):
        zoo.spec(str(folder))
    (folder / zoo.ENTRY_FILE).write_text('dataset = "cifar10"\n[files]\nint4 = "x.tflite"\n')
    with pytest.raises(UserError, match="field 'files' has 'int4'"):
        zoo.spec(str(folder))
    undeclared = tmp_path / "mine.tflite"  # a file no earlier test declared with its data set
    shutil.copy(zoo.model_file(SHIPPED, "int8"), undeclared)
    with pytest.raises(UserError, match="give its data set too"):
        zoo.spec(str(undeclared))


def test_evaluate_a_folder_as_the_zoo_model(full_folder, data_dir):
    names = ["float", "tflm-int8"]
    mine = api.evaluate(str(full_folder), names, 40, data_dir)
    shipped = api.evaluate(SHIPPED, names, 40, data_dir)
    assert mine.model == "my-resnet"
    for name in names:
        assert mine.backends[name].predictions == shipped.backends[name].predictions
        assert mine.backends[name].raw_outputs == shipped.backends[name].raw_outputs


def test_transfer_campaign_on_a_folder(full_folder, data_dir, tmp_path):
    kwargs = {"backends": ["float", "tflm-int8"], "n": 4, "data_dir": data_dir}
    mine = api.run_campaign(str(full_folder), ["pgd"], [0.004], out=tmp_path / "mine", **kwargs)
    shipped = api.run_campaign(SHIPPED, ["pgd"], [0.004], out=tmp_path / "shipped", **kwargs)
    assert len(mine.records) == 4
    for a, b in zip(mine.records, shipped.records, strict=True):
        for name in ("float", "tflm-int8"):
            assert a.backends[name].raw == b.backends[name].raw


def test_direct_campaign_on_an_int8_only_folder(int8_folder, data_dir, tmp_path):
    model = str(int8_folder)
    assert available_backends(model, runtimes=("tflm",)) == ["tflm-int8"]
    with pytest.raises(UserError, match="transfer attacks craft on a float model"):
        api.run_campaign(model, ["pgd"], [0.004], n=2, data_dir=data_dir)
    result = api.run_campaign(
        model,
        ["square-linf"],
        [0.03],
        mode="direct",
        oracle="tflm-int8",
        n=2,
        queries=40,
        data_dir=data_dir,
        out=tmp_path / "direct",
    )
    assert result.backends == ["engine-int8"] and len(result.records) == 2  # the default
    assert all(0 < r.queries <= 40 for r in result.records)


def test_attack_a_tflite_file_from_the_command_line(data_dir, tmp_path, capsys):
    """--tflite FILE --dataset D with --attacks: the file is a model (issue 9)."""
    path = shutil.copy(zoo.model_file(SHIPPED, "int8"), tmp_path / "mine.tflite")
    common = ["--tflite", str(path), "--dataset", "cifar10", "--n", "2", "--out", str(tmp_path)]
    direct = ["--attacks", "square-linf", "--eps", "0.03", "--mode", "direct", "--queries", "20"]
    assert evaluate.main([*common, *direct]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir() and "mine-direct" in p.name]
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 and set(records[0]["backends"]) == {"engine-int8"}
    capsys.readouterr()
    assert evaluate.main([*common, "--attacks", "pgd", "--eps", "0.004"]) == 2
    error = capsys.readouterr().err
    assert "transfer attacks craft on a float model" in error
    assert len(error.strip().splitlines()) == 1


def test_vww_float_reads_as_keras_2_reads_it(data_dir):
    """The MLPerf VWW .h5 is a Keras 2 file: Keras 3 (host.zoo.keras_file) gives the outputs
    of tf_keras, the Keras 2 reader, and 85.3 % on the 1,000 VWW images (int8: 85.4 %)."""
    tf_keras = pytest.importorskip("tf_keras")
    path = zoo.model_file("mlperf-vww", "float")
    evaluation = data.load("vww", "eval", data_dir)
    x01 = evaluation.x.astype(np.float32) / 255.0
    scores = get_backend("mlperf-vww", "float").run(x01)
    reference = tf_keras.models.load_model(path, compile=False).predict(x01[:32], verbose=0)
    np.testing.assert_allclose(scores[:32], reference, atol=1e-5)
    assert float(np.mean(scores.argmax(1) == evaluation.y)) == pytest.approx(0.853)


def test_transfer_pgd_on_vww(data_dir, tmp_path):
    result = api.run_campaign(
        "mlperf-vww", ["pgd"], [0.004], backends=["float", "tflm-int8"], n=4, data_dir=data_dir
    )
    assert len(result.records) == 4
    clean = [r for r in result.records if r.backends["float"].clean_prediction == r.label]
    assert clean and any(r.backends["float"].success for r in clean)


def test_vww_int16_is_derived_into_the_cache_once(data_dir, tmp_path, monkeypatch):
    """Calibrated on the last 200 eval images (recorded), hashed, built on first use only."""
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))
    path = zoo.model_file("mlperf-vww", "int16")
    assert path.parent == tmp_path / "cache" / "models" / "mlperf-vww"
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["sha256"] == data.sha256_file(path)
    assert record["calibration"]["indices"] == list(range(800, 1000))
    assert record["float_sha256"] == zoo.spec("mlperf-vww").imports["float"].sha256
    built = path.stat().st_mtime_ns
    assert zoo.model_file("mlperf-vww", "int16").stat().st_mtime_ns == built
    path.write_bytes(b"tampered")  # no longer the recorded file: built again
    rebuilt = json.loads(zoo.model_file("mlperf-vww", "int16").with_suffix(".json").read_text())
    assert path.read_bytes() != b"tampered" and rebuilt["sha256"] == data.sha256_file(path)
    held_out = data.load("vww", "eval", data_dir).take(800)
    x01 = held_out.x[:100].astype(np.float32) / 255.0
    scores = get_backend("mlperf-vww", "litert-ref-int16").run(x01)
    assert float(np.mean(scores.argmax(1) == held_out.y[:100])) > 0.75


def test_quantize_a_float_only_folder(tmp_path, data_dir):
    """``python -m host.quantize --model FOLDER`` writes the int8 file into the folder."""
    from host.quantize import main  # a command, imported where it is tested

    folder = make_folder(tmp_path, ("float",), name="my-float")
    assert main(["--model", str(folder), "--precisions", "int8", "--data-dir", str(data_dir)]) == 0
    manifest = zoo.read_manifest(str(folder))
    assert manifest["calibration"]["split"] == "cifar10/train"
    assert manifest["accuracy"]["tflm-int8"] > 0.8
    assert zoo.model_file(str(folder), "int8") == folder / "int8.tflite"


def test_firmware_for_a_folder(int8_folder):
    """``python -m host.flash --model FOLDER`` builds from the folder's int8 file, named after
    the folder."""
    from host.board import firmware  # the board stage, only for this test

    image = firmware.build(str(int8_folder), "qemu-an386")
    assert image.elf.is_file() and image.elf.parent.name.startswith("my-int8-")
    shipped = firmware.build(SHIPPED, "qemu-an386")
    assert image.bss_bytes == shipped.bss_bytes  # the same arena and buffers
