"""Model zoo: imports by checksum from the offline mirror, clear errors for unknown models."""

from __future__ import annotations

import hashlib

import pytest

from host import zoo
from host.defenses import purifier
from host.errors import UserError


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYROBUST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_mlperf_import_is_verified_by_sha256(private_cache):
    if not zoo.os.environ.get(zoo.MIRROR_ENV):
        pytest.skip("no offline model mirror (../shared/models)")
    path = zoo.model_file("mlperf-resnet8", "int8")
    expected = zoo.spec("mlperf-resnet8").imports["int8"].sha256
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected


def test_corrupt_mirror_file_is_rejected(private_cache, monkeypatch):
    mirror = private_cache / "mirror" / "mlperf_tiny"
    mirror.mkdir(parents=True)
    (mirror / "vww_96_int8.tflite").write_bytes(b"corrupt")
    monkeypatch.setenv(zoo.MIRROR_ENV, str(mirror.parent))
    with pytest.raises(UserError, match="sha256"):
        zoo.model_file("mlperf-vww", "int8")


def test_unknown_model_and_precision():
    with pytest.raises(UserError, match="unknown model 'resnet50'"):
        zoo.spec("resnet50")
    with pytest.raises(UserError, match="unknown precision"):
        zoo.model_file("cifar10-resnet8", "int4")


def test_every_zoo_entry_names_a_known_architecture_or_import():
    from host.zoo.architectures import ARCHITECTURES

    for entry in zoo.ZOO.values():
        assert entry.architecture in ARCHITECTURES or entry.imports, entry.name


def test_every_model_folder_is_a_zoo_entry():
    """Every folder of models/ is a zoo entry, except the PixelDefend purifiers (one per data
    set, not models that classify)."""
    folders = sorted(
        p.name for p in zoo.MODELS_DIR.iterdir() if p.is_dir() and p != purifier.PURIFIERS
    )
    assert folders == sorted(zoo.ZOO)
    for name in folders:
        assert (zoo.MODELS_DIR / name / zoo.ENTRY_FILE).is_file(), name


def test_imported_entries_have_a_checksum_and_a_mirror_name():
    for entry in zoo.ZOO.values():
        if entry.origin == "own":
            assert not entry.imports, entry.name
            continue
        assert entry.imports, entry.name
        for precision, download in entry.imports.items():
            assert download.url.startswith("https://") and len(download.sha256 or "") == 64
            assert entry.mirrors[precision].endswith(download.url.rsplit("/", 1)[1])


GOOD = 'architecture = "resnet8"\ndataset = "cifar10"\neval_split = "test"\norigin = "own"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "dataset = 'x'\n", "not valid TOML"),
        (GOOD.replace('dataset = "cifar10"\n', ""), "missing field 'dataset'"),
        (GOOD + "input_range = 'high'\n", "field 'input_range' must be a number"),
        (GOOD + "colour = 'red'\n", "unknown field 'colour'"),
        (GOOD.replace('"own"', '"hub"'), "field 'origin' has 'hub'; one of: own, mlperf"),
        (
            GOOD.replace('"own"', '"mlperf"') + "[imports.int8]\nurl = 'https://x/m.tflite'\n",
            "missing field 'imports.int8.sha256'",
        ),
        (
            GOOD.replace('"own"', '"mlperf"') + "[imports.int8]\nurl = 1\nsha256 = 'ab'\n",
            "field 'imports.int8.url' must be a string",
        ),
        (GOOD + "derive = ['int16']\n", "'derive' needs an imported float model"),
        (GOOD.replace('"test"', '"train2"'), "field 'eval_split' has 'train2'"),
        (GOOD.replace('"resnet8"', '""'), "missing field 'architecture'"),
        (GOOD + "calibration = 'test'\n", "field 'calibration' has 'test'; one of: train"),
    ],
)
def test_a_wrong_model_toml_is_a_one_line_error_naming_file_and_field(tmp_path, text, message):
    path = tmp_path / "my-model" / zoo.ENTRY_FILE
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        zoo.load_zoo(tmp_path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_a_model_toml_declares_an_entry_named_after_its_folder(tmp_path):
    path = tmp_path / "my-model" / zoo.ENTRY_FILE
    path.parent.mkdir()
    path.write_text(GOOD)
    entry = zoo.load_zoo(tmp_path)["my-model"]
    assert (entry.name, entry.dataset, entry.train_split, entry.input_range) == (
        "my-model",
        "cifar10",
        None,
        1.0,
    )
