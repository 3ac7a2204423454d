"""Model zoo: imports by checksum from the offline mirror, clear errors for unknown models."""

from __future__ import annotations

import hashlib

import pytest

from host import zoo
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
