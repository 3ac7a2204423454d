"""Pre-processing defenses on the host: backend names with '+', DefendedBackend on real
models and images, JPEG, the board's defense check, the feature-squeezing detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from engine_reference import needs_board

from host import api, backends, data, defenses, evaluate, zoo
from host.backends.device import DEVICE_ENV
from host.board import firmware, qemu
from host.defenses import detector
from host.defenses.detector import FALSE_POSITIVES
from host.defenses.jpeg import Jpeg
from host.defenses.squeeze import BitDepth, Median
from host.errors import UserError
from host.flash import board_defense
from host.records import AttackRecord
from host.run.spec import load_campaign
from host.zoo.quantizer import calibration_set

MODEL = "cifar10-resnet8"


@pytest.fixture(scope="module")
def images(data_dir) -> np.ndarray:
    """40 real CIFAR-10 test images in [0,1]."""
    test = data.load("cifar10", "test", data_dir)
    return test.x[:40].astype(np.float32) / np.float32(255.0)


def test_names_split_and_check() -> None:
    assert defenses.split_backend_name("device-int8+bits5+median2") == (
        "device-int8",
        ("bits5", "median2"),
    )
    assert defenses.parse_name("engine-int16+median3+squeeze") == ("engine", "int16")
    assert defenses.parse_name("float+jpeg75") == ("float", "float")
    assert defenses.parse_name("engine-int8+purify") == ("engine", "int8")  # syntax only
    for bad, message in [
        ("engine-int8+bogus", "unknown defense 'bogus'; known: bits<1-15>, median<2-5>"),
        ("engine-int8+bits", "unknown defense 'bits'"),
        ("engine-int8+bits0", "bits0: the bit depth must be 1..15"),
        ("engine-int8+median9", "median9: the window must be 2..5"),
        ("float+jpeg0", "jpeg0: the quality must be 1..95"),
        ("engine-int8+squeeze+bits5", "squeeze is a detector: it goes last"),
        ("engine-int3+bits5", "unknown backend 'engine-int3'"),
    ]:
        with pytest.raises(UserError, match=message.replace("+", r"\+").replace("[", r"\[")):
            defenses.parse_name(bad)


def test_lattice_defenses_run_on_the_raw_integers(images) -> None:
    """tflm-int8+bits5 is tflm-int8 on BitDepth(5).raw of the quantized input; engine-int16
    +median2 likewise on the int16 lattice."""
    for name, defense in [("tflm-int8", BitDepth(5)), ("engine-int16", Median(2))]:
        plain = backends.get_backend(MODEL, name)
        defended = defenses.get_backend(MODEL, f"{name}+{defense.name}")
        lattice = defenses.lattice_of(plain)
        info = np.iinfo(plain.input_dtype)
        assert info.min <= lattice.lo < lattice.hi <= info.max
        expected = plain.invoke(defense.raw(plain.quantize(images), lattice))
        assert defended.name == f"{name}+{defense.name}"
        assert np.array_equal(defended.run(images), expected)
        assert np.array_equal(defended.invoke(plain.quantize(images)), expected)
        assert not np.array_equal(plain.run(images), expected)  # the defense did something
        assert defended.input_scale == plain.input_scale  # the same lattice for distortion


def test_clean_evaluation_compares_backends_behind_the_same_defenses(data_dir) -> None:
    """Agreement pairs only backends of one precision behind the same defenses: TFLite Micro
    and the engine agree byte for byte behind median2 too."""
    names = ["engine-int8", "tflm-int8+median2", "engine-int8+median2", "engine-int8+bits5"]
    result = api.evaluate(MODEL, names, n=24, data_dir=data_dir)
    assert set(result.backends) == set(names)
    [pair] = result.agreement
    assert {pair["a"], pair["b"]} == {"tflm-int8+median2", "engine-int8+median2"}
    assert pair["identical_pct"] == 100.0
    assert result.backends["engine-int8+median2"].precision == "int8"


def test_float_defenses_run_on_pixels(images) -> None:
    plain = backends.get_backend(MODEL, "float")
    defended = defenses.get_backend(MODEL, "float+bits5+median2")
    squeezed = Median(2).pixels(BitDepth(5).pixels(images))
    assert np.allclose(defended.run(images), plain.run(squeezed), atol=1e-6)
    assert not np.allclose(plain.run(images), plain.run(squeezed), atol=1e-3)


def test_jpeg_is_deterministic_and_lossy(images) -> None:
    jpeg = Jpeg(75)
    once, twice = jpeg.pixels(images), jpeg.pixels(images)
    assert once.dtype == np.float32 and once.shape == images.shape
    assert np.array_equal(once, twice)
    assert np.allclose(once * 255, np.round(once * 255), atol=1e-3)  # 8-bit pixels
    changed = np.abs(once - images).max(axis=(1, 2, 3))
    assert (changed > 2 / 255).all()  # every image changes
    assert np.abs(once - images).mean() < 0.03  # and stays close at quality 75
    assert np.abs(Jpeg(10).pixels(images) - images).mean() > np.abs(once - images).mean()
    gray = images[..., :1]
    assert (
        np.array_equal(jpeg.pixels(gray), jpeg.pixels(gray))
        and jpeg.pixels(gray).shape == gray.shape
    )
    with pytest.raises(UserError, match="jpeg75 works on images with 1 or 3 channels"):
        jpeg.pixels(images[..., :2])


def test_a_board_must_run_exactly_the_lattice_defenses() -> None:
    """The firmware's defenses (its HELLO) against the name's: a mismatch is refused in one
    line naming the `make flash` that fixes it, plain device-int8 included."""
    board = backends.get_backend(MODEL, "engine-int8")
    board.name = "device-int8"  # the check reads the name and the HELLO's defenses only
    path = zoo.model_file(MODEL, "int8")
    board.firmware_defenses = ("bits5",)  # type: ignore[attr-defined]
    with pytest.raises(UserError, match=r"runs bits5, device-int8\+median2 asks for median2: "):
        defenses.defended(board, ("median2",), MODEL, path)
    with pytest.raises(UserError, match=r"rebuild it with `make flash`$"):
        defenses.defended(board, (), MODEL, path)
    defended = defenses.defended(board, ("jpeg75", "bits5"), MODEL, path)
    assert [d.name for d in defended.steps] == ["jpeg75"]  # bits5 is the firmware's
    with pytest.raises(UserError, match="put the pixel defenses first"):
        defenses.defended(board, ("bits5", "jpeg75"), MODEL, path)
    board.firmware_defenses = ()  # type: ignore[attr-defined]
    assert defenses.defended(board, (), MODEL, path) is board
    with pytest.raises(UserError, match=r"make flash DEFENSE=bits5\+median2"):
        defenses.defended(board, ("bits5", "median2"), MODEL, path)


@needs_board
def test_the_board_runs_its_firmware_defenses(images, monkeypatch) -> None:
    """A board built with bits5+median2 (the firmware of tests/test_defense_firmware.py): as
    device-int8+jpeg75+bits5+median2 it answers as the engine behind the same defenses (jpeg75
    on the host, the rest on the board); any other name for it is refused in one line."""
    image = firmware.build(MODEL, "qemu-an386", defense=board_defense(MODEL, "bits5+median2"))
    emulator = qemu.Emulator(image.board.qemu_machine, image.elf).start()
    try:
        monkeypatch.setenv(DEVICE_ENV, emulator.url)
        for name, answer in [
            ("device-int8", "runs bits5+median2, device-int8 asks for none: rebuild it with "),
            ("device-int8+median2+bits5", "rebuild it with `make flash DEFENSE=median2+bits5`"),
        ]:
            with pytest.raises(UserError, match=answer.replace("+", r"\+")):
                defenses.get_backend(MODEL, name)
        chain = "+jpeg75+bits5+median2"
        board = defenses.get_backend(MODEL, f"device-int8{chain}")
        try:
            engine = defenses.get_backend(MODEL, f"engine-int8{chain}")
            assert board.run(images[:8]).tobytes() == engine.run(images[:8]).tobytes()
            assert board.last_counts and len(board.last_counts) == 8  # the board's, through
        finally:
            board.close()
    finally:
        emulator.stop()


def test_unknown_defense_is_one_line_in_campaign_files_and_evaluate(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'models = ["cifar10-resnet8"]\nbackends = ["float", "engine-int8+bogus"]\n'
        '[[attack]]\nname = "pgd"\neps = [0.01]\n'
    )
    with pytest.raises(UserError, match=rf"{path}:2: unknown defense 'bogus'"):
        load_campaign(path)
    path.write_text(
        'models = ["cifar10-resnet8"]\nbackends = ["engine-int8+bits5"]\n'
        '[[attack]]\nname = "pgd"\noracle = "float+median7"\neps = [0.01]\n'
    )
    with pytest.raises(UserError, match=rf"{path}:5: median7: the window must be 2..5"):
        load_campaign(path)
    for argv in (
        ["--backends", "engine-int8+bogus", "--out", str(tmp_path)],
        ["--attacks", "pgd", "--eps", "0.01", "--oracle", "float+jpeg", "--out", str(tmp_path)],
    ):
        assert evaluate.main(argv) == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and "unknown defense" in lines[0], lines


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh folder for detector thresholds (the decoded data sets stay cached)."""
    monkeypatch.setattr(detector, "cache_folder", lambda: tmp_path)
    return tmp_path


def test_detector_flags_five_percent_of_clean_training_images(data_dir, cache) -> None:
    squeezing = defenses.get_backend(MODEL, "engine-int8+squeeze")
    assert isinstance(squeezing, defenses.DetectingBackend)
    threshold = squeezing.threshold()
    [cached] = cache.glob("*.json")
    record = json.loads(cached.read_text())
    assert record["threshold"] == threshold and record["images"] == "cifar10/train"
    assert defenses.get_backend(MODEL, "engine-int8+squeeze").threshold() == threshold
    train, calibration = calibration_set(zoo.spec(MODEL), str(data_dir))
    rest = np.setdiff1d(np.arange(len(train)), calibration)
    held_out = np.random.default_rng(7).choice(rest, size=800, replace=False)
    flagged = squeezing.detect(train.x[held_out].astype(np.float32) / np.float32(255.0))
    # 800 draws at 5 %: sd 0.8 points; the 500-image threshold adds about 1 point of its own
    assert abs(flagged.mean() - FALSE_POSITIVES) < 0.035, flagged.mean()
    assert record["count"] == len(calibration) and abs(record["flagged"] - 0.05) < 0.01


def test_records_say_what_the_detector_flagged(data_dir, cache) -> None:
    result = api.run_campaign(
        MODEL,
        ["fgsm"],
        eps_steps=[16],
        backends=["engine-int8", "engine-int8+squeeze"],
        n=12,
    )
    detected = []
    for record in result.records:
        plain, guarded = record.backends["engine-int8"], record.backends["engine-int8+squeeze"]
        assert plain.detected is None and isinstance(guarded.detected, bool)
        assert plain.prediction == guarded.prediction  # the detector changes no output
        assert guarded.success == (plain.success and not guarded.detected)
        detected.append(guarded.detected)
    assert any(detected)  # FGSM at 16 steps moves the softmax under squeezing
    old = result.records[0].to_dict()
    for outcome in old["backends"].values():
        del outcome["detected"]
    assert AttackRecord.from_dict(old).backends["engine-int8"].detected is None
