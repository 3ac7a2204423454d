"""Data sets: real files from the offline directory, the recorded coffee split, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from host import data
from host.errors import UserError


def test_cifar10_test_split_is_the_lossless_set(data_dir):
    test = data.load("cifar10", "test", data_dir)
    assert test.x.shape == (297, 32, 32, 3) and test.x.dtype == np.uint8
    assert test.y.min() == 0 and test.y.max() == 9
    assert len(np.unique(test.extra["test_index"])) == 297


def test_vww_and_kws_load(data_dir):
    vww = data.load("vww", "eval", data_dir)
    assert vww.x.shape == (1000, 96, 96, 3) and sorted(np.unique(vww.y)) == [0, 1]
    kws = data.load("kws", "eval", data_dir)
    assert kws.x.shape == (1000, 49, 10, 1) and kws.x.dtype == np.int8


def test_coffee_split_is_seeded_stratified_and_disjoint(data_dir):
    labels = np.load(data_dir / "coffee" / "bracol_leaf.npz")["y"]
    split = data.coffee_split(labels)
    assert split["train"].tolist() == data.coffee_split(labels)["train"].tolist()
    assert not set(split["train"]) & set(split["test"])
    assert set(labels[split["test"]]) == {0, 1, 2, 3}  # cercospora (4) is not in the task
    for label in range(4):
        members = np.sum(labels == label)
        assert abs(np.sum(labels[split["test"]] == label) - 0.2 * members) <= 1


def test_coffee_images_are_stretched_to_224(data_dir):
    test = data.load("coffee", "test", data_dir)
    assert test.x.shape[1:] == (224, 224, 3) and len(test) == 307
    assert test.extra["split_seed"] == data.COFFEE_SPLIT_SEED


def test_take_keeps_order(data_dir):
    test = data.load("cifar10", "test", data_dir)
    head = test.take(5)
    assert np.array_equal(head.x, test.x[:5]) and np.array_equal(head.y, test.y[:5])


@pytest.mark.parametrize(
    ("name", "split", "message"),
    [("mnist", "test", "unknown data set"), ("cifar10", "validation", "has no split")],
)
def test_bad_names_are_user_errors(name, split, message, data_dir):
    with pytest.raises(UserError, match=message):
        data.load(name, split, data_dir)


def test_missing_data_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.load("cifar10", "test", tmp_path / "nowhere")
    with pytest.raises(UserError, match="missing data file"):
        data.load("cifar10", "test", tmp_path)


def test_checksum_mismatch_is_detected(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"not the official file")
    with pytest.raises(UserError, match="md5"):
        data.verify_checksum(path, data.DOWNLOADS["cifar10"])
