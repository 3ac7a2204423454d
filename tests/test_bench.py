"""``make bench`` on the emulated board: a table on the terminal and the same numbers in JSON."""

from __future__ import annotations

import json
import shutil

import pytest

from host import bench

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


def test_bench_writes_what_it_prints(data_dir, tmp_path, capsys) -> None:
    assert bench.main(["--models", "cifar10-resnet8", "-n", "4", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    (path,) = tmp_path.glob("*-bench/bench.json")
    content = json.loads(path.read_text())
    (result,) = content["board"]
    assert result["model"] == "cifar10-resnet8" and result["images"] == 4
    assert result["unit"] == "instructions" and result["instructions"] > 1e6
    assert 0 < result["transfer_s"] <= result["total_s"]
    assert content["versions"]["tflite-micro"]
    assert f"{result['instructions'] / 1e6:.2f}" in printed and str(path) in printed
    ops = result["ops"]  # the per-op table of the last inference
    assert [op["index"] for op in ops] == list(range(15)) and ops[0]["op"] == "CONV_2D"
    assert (
        abs(sum(op["count"] for op in ops) - result["instructions"]) < 0.01 * result["instructions"]
    )
    assert all(op["per_mac"] > 1 for op in ops if op["macs"])
    assert f"{ops[0]['count']:>10}" in printed
