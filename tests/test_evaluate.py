"""`python -m host.evaluate` end to end, as a user runs it: results, JSON, one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host import zoo

REPO_ROOT = Path(__file__).resolve().parent.parent


def evaluate(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "host.evaluate", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_evaluate_writes_accuracy_agreement_and_per_op_results(data_dir, tmp_path):
    result = evaluate(
        "--model", "mlperf-resnet8", "--backends", "tflm-int8,litert-ref-int8",
        "--n", "12", "--sample-seed", "3", "--agreement-ops", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "tflm-int8" in result.stdout and "litert-ref-int8 vs tflm-int8" not in result.stdout
    assert "tflm-int8 vs litert-ref-int8" in result.stdout and "top-1 agreement" in result.stdout
    assert "FULLY_CONNECTED" in result.stdout
    (path,) = tmp_path.glob("*-mlperf-resnet8/evaluation.json")
    assert str(path) in result.stdout
    (results,) = json.loads(path.read_text())  # one clean evaluation per model
    assert (path.parent / "run.json").is_file()
    assert f"report: {path.parent / 'report.html'}" in result.stdout  # every evaluation has one
    assert "Board vs interpreter" in (path.parent / "report.html").read_text()
    assert results["n"] == 12 and results["sample_seed"] == 3 and len(results["indices"]) == 12
    assert results["dataset"]["name"] == "cifar10" and results["dataset"]["split"] == "test"
    tflm = results["backends"]["tflm-int8"]
    assert tflm["kernels"].startswith("tflite-micro") and len(tflm["raw_outputs"]) == 12
    assert len(tflm["predictions"]) == 12 and 0 <= tflm["accuracy_pct"] <= 100
    model_bytes = zoo.model_file("mlperf-resnet8", "int8").read_bytes()
    assert results["model_files"]["int8"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert results["versions"]["tflite-micro"] != "missing"
    (pair,) = results["agreement"]
    assert (pair["a"], pair["b"]) == ("tflm-int8", "litert-ref-int8")
    assert [op["op_name"] for op in results["agreement_ops"][0]["ops"]][-1] == "SOFTMAX"
    assert "host.evaluate" in " ".join(results["command"])


def test_default_backends_say_when_no_board_runs(data_dir, tmp_path):
    result = evaluate("--model", "mlperf-kws", "--n", "20", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "no board running" in result.stdout
    for name in ("litert-ref-int8", "litert-int8", "tflm-int8"):
        assert name in result.stdout


def test_arbitrary_tflite_file(data_dir, tmp_path):
    model = zoo.model_file("mlperf-vww", "int8")
    result = evaluate(
        "--tflite", str(model), "--dataset", "vww", "--backends", "tflm-int8",
        "--n", "5", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "int8 on vww/eval, n=5" in result.stdout


def bad_tflite(tmp_path: Path) -> str:
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(b"\x00\x01\x02\x03TFL3" + b"\xff" * 64)
    return str(path)


ERROR_CASES = {
    "unknown model": (["--model", "no-such-model"], "unknown model"),
    "unknown backend": (
        ["--model", "mlperf-resnet8", "--backends", "tflm-int9"],
        "unknown backend",
    ),
    "corrupt tflite": (["--tflite", "{corrupt}", "--dataset", "cifar10"], "corrupt"),
    "missing data dir": (
        ["--model", "mlperf-resnet8", "--data-dir", "/nonexistent/data"],
        "does not exist",
    ),
    "wrong input shape": (
        ["--tflite", "{vww}", "--dataset", "cifar10", "--backends", "litert-ref-int8"],
        "shape",
    ),
    "n not positive": (["--model", "mlperf-resnet8", "--n", "0"], "--n must be positive"),
}


# Through the process in the default run: one error before any work, one after the model and
# data are loaded; the others are test_bad_inputs.py's rows (in process), here in the slow run.
DEFAULT_ERROR_CASES = ("unknown model", "wrong input shape")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=() if case in DEFAULT_ERROR_CASES else pytest.mark.slow)
        for case in ERROR_CASES
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, data_dir, tmp_path):
    args, expected = ERROR_CASES[case]
    paths = {"corrupt": bad_tflite(tmp_path), "vww": str(zoo.model_file("mlperf-vww", "int8"))}
    args = [arg.format(**paths) for arg in args] + ["--out", str(tmp_path)]
    result = evaluate(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
