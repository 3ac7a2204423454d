"""The README's main job as written: `make flash && python -m host.evaluate` on the emulator.

The default run checks it in test_campaign_files.py (test_main_job_on_the_board: `python -m
host.flash` with its defaults, then `python -m host.evaluate`; test_main_job_without_a_board) and
test_evaluate.py (``--model`` another model, no board); the board found by the device backend by
itself after `make flash` is test_device.py's test_device_backend_and_emulator_cli. This file's
variant (a clean evaluation of 20 images, board against TFLite Micro) runs in the slow run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from host import zoo

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_flash_then_evaluate_uses_the_board(tmp_path):
    if not (zoo.MODELS_DIR / "cifar10-resnet8" / "int8.tflite").is_file():
        pytest.skip("cifar10-resnet8 is not trained yet")
    flashed = run("host.flash")  # what `make flash` runs, with its defaults
    assert flashed.returncode == 0, flashed.stderr[-2000:]
    try:
        evaluated = run(
            "host.evaluate",
            "--n",
            "20",
            "--backends",
            "tflm-int8,device-int8",
            "--out",
            str(tmp_path),
        )
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        results = next(tmp_path.glob("*/evaluation.json"))
        record = json.loads(results.read_text())
        assert "cifar10-resnet8" in json.dumps(record)[:2000]
        text = evaluated.stdout
        assert "device-int8" in text and "tflm-int8 vs device-int8: 100.00% identical" in text
    finally:
        run("host.emulator", "stop")
