"""Shared fixtures: tests run on the real data and reference models in ../shared."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"

# The tests' own emulator state, set before host.board.qemu is imported: a board the user left
# running (`make flash`, build/emulator.json) is never seen, used or stopped by a test.
TEST_STATE = Path(tempfile.mkdtemp(prefix="tinyrobust-tests-"))
os.environ["TINYROBUST_EMULATOR_STATE"] = str(TEST_STATE / "emulator.json")

# Point the loaders at the offline copies unless the caller chose other ones.
if (SHARED / "data").is_dir():
    os.environ.setdefault("TINYROBUST_DATA_DIR", str(SHARED / "data"))
if (SHARED / "models").is_dir():
    os.environ.setdefault("TINYROBUST_MODEL_MIRROR", str(SHARED / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = os.environ.get("TINYROBUST_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.skip("no offline data directory (../shared/data)")
    return Path(path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(TEST_STATE, ignore_errors=True)
