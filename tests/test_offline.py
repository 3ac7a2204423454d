"""A newcomer's machine: no data directory, no network, no installed package, no log noise,
and a board the user left running that the tests never see."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from host import data, zoo
from host.board import qemu
from host.errors import TinyRobustWarning, UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "http://127.0.0.1:9"  # a proxy that refuses every connection: no network
NOISE = re.compile(
    r"cuda|onednn|absl|I0000|WARNING: All log messages|PyTorch|XNNPACK", re.IGNORECASE
)


NO_NETWORK = {
    name: UNREACHABLE for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
}
FRESH_USER = ("TINYROBUST_DATA_DIR", "TINYROBUST_MODEL_MIRROR", "no_proxy", "NO_PROXY")


def offline_env(cache: Path) -> dict[str, str]:
    """A fresh user's environment: no data directory or mirror, an empty cache, no network,
    TensorFlow's log level unset, the checkout not on PYTHONPATH (the tests' board state)."""
    hidden = (*FRESH_USER, "TF_CPP_MIN_LOG_LEVEL", "TINYROBUST_VERBOSE", "PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    return {**env, **NO_NETWORK, "TINYROBUST_CACHE_DIR": str(cache)}


@pytest.fixture
def offline(monkeypatch, tmp_path) -> Path:
    """This process offline: no data directory or mirror, an empty cache, no network."""
    for name in FRESH_USER:
        monkeypatch.delenv(name, raising=False)
    for name, value in NO_NETWORK.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TINYROBUST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_offline_cifar10_test_is_the_bundled_official_images(data_dir, offline):
    with pytest.warns(TinyRobustWarning, match="297 bundled official CIFAR-10 test images"):
        sample = data.load("cifar10", "test")
    official = np.load(data_dir / "cifar10" / "test_lossless.npz")
    assert sample.source == "samples/cifar10-test.npz"
    assert np.array_equal(sample.x, official["x"]) and np.array_equal(sample.y, official["y"])
    assert np.array_equal(sample.extra["test_index"], official["test_index"])


def test_offline_coffee_test_is_a_stratified_part_of_the_split(data_dir, offline):
    full = data.load("coffee", "test", data_dir)
    with pytest.warns(TinyRobustWarning, match="52 bundled BRACOL test images"):
        sample = data.load("coffee", "test")
    position = {int(i): k for k, i in enumerate(full.extra["ids"])}
    rows = [position[int(i)] for i in sample.extra["ids"]]  # KeyError: not in the test split
    assert np.array_equal(sample.x, full.x[rows]) and np.array_equal(sample.y, full.y[rows])
    assert sample.extra["split_seed"] == data.COFFEE_SPLIT_SEED
    share = np.bincount(sample.y, minlength=4) / np.bincount(full.y, minlength=4)
    assert np.all(np.abs(share - 1 / 6) < 0.02)  # every class keeps its share


@pytest.mark.parametrize(("name", "split"), [("cifar10", "train"), ("vww", "eval")])
def test_offline_without_a_sample_says_how_to_give_the_data(offline, name, split):
    with pytest.raises(UserError, match="--data-dir or set TINYROBUST_DATA_DIR"):
        data.load(name, split)


def test_offline_imported_model_says_how_to_give_it(offline):
    with pytest.raises(UserError, match="set TINYROBUST_MODEL_MIRROR to a folder holding mlperf"):
        zoo.model_file("mlperf-kws", "int8")


def test_the_newcomers_evaluate_is_quiet_and_offline(tmp_path):
    """`python -m host.evaluate` from the checkout: no install, no network, no data directory."""
    command = [sys.executable, "-m", "host.evaluate", "--model", "cifar10-resnet8"]
    command += ["--backends", "float,litert-int8,tflm-int8", "--n", "4"]
    command += ["--out", str(tmp_path / "runs")]
    env = offline_env(tmp_path / "cache")
    quiet = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    output = quiet.stdout + quiet.stderr
    assert [line for line in output.splitlines() if NOISE.search(line)] == []
    notes = [line for line in output.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "samples/cifar10-test.npz" in notes[0]
    # When asked, the noise shows: --verbose on the same run; $TINYROBUST_VERBOSE on a light one
    # (LiteRT alone, one image: its XNNPACK line), the same switch read from the environment.
    light = [sys.executable, "-m", "host.evaluate", "--model", "cifar10-resnet8"]
    light += ["--backends", "litert-int8", "--n", "1", "--out", str(tmp_path / "runs")]
    for asked, extra_env in ([*command, "--verbose"], {}), (light, {"TINYROBUST_VERBOSE": "1"}):
        verbose = subprocess.run(
            asked, cwd=REPO_ROOT, env={**env, **extra_env}, capture_output=True
        )
        assert verbose.returncode == 0 and NOISE.search(verbose.stderr.decode())  # when asked


def test_a_notebook_imports_the_checkout_it_names(tmp_path):
    """The README's notebook recipe, from another folder, with nothing installed."""
    code = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); import host.api, host; "
    code += "print(host.__file__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == REPO_ROOT / "host" / "__init__.py"


def test_tests_have_their_own_emulator_state():
    assert not qemu.STATE_FILE.is_relative_to(REPO_ROOT)
    assert qemu.STATE_FILE == Path(os.environ[qemu.STATE_ENV])
