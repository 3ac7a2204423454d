"""``make bench`` on the emulated board: a table on the terminal and the same numbers in JSON."""

from __future__ import annotations

import json
import shutil

import pytest

from host import bench
from host.bench import board, cluster

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


def test_bench_writes_what_it_prints(data_dir, tmp_path, capsys) -> None:
    """The board section: four ways timed side by side, pipelined outputs identical to one
    request at a time, the per-op table adding up to the whole inference."""
    out = str(tmp_path)
    argv = ["--only", "board", "--models", "cifar10-resnet8", "-n", "4", "--board-repeats", "1"]
    assert bench.main([*argv, "--out", out]) == 0
    printed = capsys.readouterr().out
    (path,) = tmp_path.glob("*-bench/bench.json")
    content = json.loads(path.read_text())
    (result,) = content["board"]
    assert result["model"] == "cifar10-resnet8" and result["images"] == 4
    assert result["unit"] == "instructions" and result["instructions"] > 1e6
    assert result["identical"] and set(result["seconds"]) == set(board.WAYS)
    assert all(seconds > 0 for seconds in result["seconds"].values())
    assert 0 < result["efficiency_pipelined"] and 0 < result["efficiency_one_at_a_time"]
    assert content["versions"]["tflite-micro"]
    assert f"{result['instructions'] / 1e6:.2f}" in printed and str(path) in printed
    assert f"{result['efficiency_pipelined']:.0%}" in printed
    ops = result["ops"]  # the per-op table of one inference
    assert [op["index"] for op in ops] == list(range(15)) and ops[0]["op"] == "CONV_2D"
    per_op = sum(op["count"] for op in ops)
    assert 0 <= result["instructions"] - per_op <= 80  # the return after the last op
    assert all(op["per_mac"] > 1 for op in ops if op["macs"])
    assert f"{ops[0]['count']:>10}" in printed


@pytest.mark.slow
def test_bench_cluster_section(data_dir, tmp_path, capsys) -> None:
    """The cluster section: two boards against one and two Ray workers against one, side by
    side, with the same outputs and the same records in each configuration."""
    argv = ["--only", "cluster", "--cluster-images", "16", "--cluster-repeats", "1"]
    argv += ["--cluster-n", "8", "--cluster-queries", "10", "--cluster-workers", "2"]
    assert bench.main([*argv, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    (path,) = tmp_path.glob("*-bench/bench.json")
    result = json.loads(path.read_text())["cluster"]
    assert result["cores"] >= 1 and f"machine: {result['cores']} cores" in printed
    assert result["boards"]["identical"] and result["workers"]["identical"]
    assert set(result["workers"]["seconds"]) == {"1", "2", "in process"}
    assert set(result["boards"]["seconds"]) == set(cluster.WAYS)
    assert f"speed-up {result['boards']['speedup']:.2f}x" in printed
    assert f"speed-up over 1 worker {result['workers']['speedup']:.2f}x" in printed
