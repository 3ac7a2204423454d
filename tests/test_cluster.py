"""Campaigns on Ray (host.run.cluster): the same records in one process, on one local worker
and on two; and on a two-node cluster started with `ray start` on this machine, killed mid-run
and resumed, with nothing lost or duplicated. Each [[attack]] entry is its own group (its own
eps grid), so the five cells of the campaign run two at a time on two workers.

Every run is the real command (`python -m host.evaluate --campaign FILE`) in a subprocess, so
that each Ray instance lives and dies with its command, as for a user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from board_runs import run_killing_a_board

from host.board import firmware
from host.board.qemu import free_port
from host.errors import UserError
from host.paths import REPO_ROOT
from host.records import RecordFile
from host.run import cluster

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)

CAMPAIGN = """name = "cluster"
models = ["cifar10-resnet8"]
backends = ["float", "tflm-int8", "engine-int8", "device-int8"]
clean = "campaign"
seed = 4

[sample]
n = 4

[[attack]]
name = "pgd"
eps = [0.01, 0.03]
params = { max_iter = 2 }

[[attack]]
name = "fgsm"
eps = [0.02]

[[attack]]
name = "square-linf"
eps = [0.03]
queries = 24

[[attack]]
name = "apgd-ce"
eps = [0.04]
params = { max_iter = 3 }

[[attack]]
name = "deepfool"
eps = [0.05]
params = { max_iter = 5 }
"""
RECORDS = 4 * (2 + 1 + 1 + 1 + 2)  # n x eps of each attack (deepfool: its own output too)
DEAD_BOARD = "stopped answering"  # the note of a board dropped from the pool


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    firmware.build("cifar10-resnet8", "qemu-an386")  # once, before any run times out on it
    path = tmp_path_factory.mktemp("cluster") / "cluster.toml"
    path.write_text(CAMPAIGN)
    return path


def _command(campaign: Path, out: Path, *options: str) -> list[str]:
    command = [sys.executable, "-m", "host.evaluate", "--campaign", str(campaign)]
    return [*command, "--out", str(out), *options]


def _run(
    campaign: Path,
    out: Path,
    *options: str,
    env: dict | None = None,
    kill_a_board_after: str | None = None,
) -> tuple[Path, str]:
    """Run the campaign into a new folder under ``out``; that folder and what the command
    printed on stderr. ``kill_a_board_after``: SIGKILL one of the command's two emulated
    boards as soon as the run folder holds this file."""
    command = _command(campaign, out, *options)
    done = run_killing_a_board(command, out, kill_a_board_after, env)
    (folder,) = out.iterdir()
    return folder, done.stderr


@pytest.fixture(scope="module")
def reference(campaign: Path, tmp_path_factory: pytest.TempPathFactory, data_dir) -> bytes:
    """The campaign's records in one process, on one emulated board."""
    folder, _ = _run(campaign, tmp_path_factory.mktemp("in-process"), "--boards", "qemu-an386")
    records = (folder / "records.jsonl").read_bytes()
    assert records.count(b"\n") == RECORDS  # every (example, attack, eps) once
    assert b'"device-int8"' in records
    return records


def test_one_worker_and_two_workers_with_two_boards_one_dying_write_the_same_records(
    campaign: Path, reference: bytes, tmp_path: Path
) -> None:
    """--workers 1 on one board, and --workers 2 on two boards (Ray actors) one of which is
    killed once the clean evaluation is done: the records of one process on one board, byte
    for byte; the dead board said once."""
    folder, stderr = _run(campaign, tmp_path / "1", "--workers", "1", "--boards", "qemu-an386")
    assert (folder / "records.jsonl").read_bytes() == reference, "--workers 1"
    assert json.loads((folder / "run.json").read_text())["execution"]["workers"] == 1
    assert DEAD_BOARD not in stderr
    folder, stderr = _run(
        campaign,
        tmp_path / "2",
        *("--workers", "2", "--boards", "qemu-an386x2"),
        kill_a_board_after="evaluation.json",
    )
    assert (folder / "records.jsonl").read_bytes() == reference, "--workers 2, two boards"
    assert stderr.count(DEAD_BOARD) == 1, stderr[-2000:]
    assert json.loads((folder / "run.json").read_text())["execution"]["workers"] == 2


@pytest.fixture
def two_nodes() -> Iterator[str]:
    """A Ray cluster of two nodes on this machine, as docs/distributed.md starts one (a head
    and a worker node, one CPU each); its address. Its processes are stopped at the end."""
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = ["ray", "start", "--num-cpus", "1", "--disable-usage-stats"]
    head = [*start, "--head", "--port", str(port), "--include-dashboard", "false"]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=120)
        address = f"127.0.0.1:{port}"
        node = [*start, "--address", address]
        env["RAY_AUTH_MODE"] = "token"  # the head turned token authentication on
        subprocess.run(node, env=env, check=True, capture_output=True, timeout=120)
        yield address
    finally:
        _stop_cluster(port)


def _stop_cluster(port: int) -> None:
    """Stop the processes of the Ray cluster whose head listens on ``port`` (only those: `ray
    stop` would stop every Ray on the machine)."""
    marks = (f":{port}".encode(), f"={port}".encode())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(word.endswith(marks) or word == str(port).encode() for word in words) and any(
            b"ray" in word for word in words
        ):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_two_node_cluster_killed_mid_run_resumes_to_the_same_records(
    campaign: Path, reference: bytes, two_nodes: str, tmp_path: Path
) -> None:
    """docs/distributed.md's two nodes on 127.0.0.1: the command joins with --ray-address, is
    killed (SIGKILL) once its first records are written, and --resume finishes the run: the
    records are those of one process, byte for byte, none lost or written twice."""
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    out = tmp_path / "runs"
    command = _command(campaign, out, "--ray-address", two_nodes, "--boards", "qemu-an386x2")
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    killed_at = 0
    while process.poll() is None and time.monotonic() < deadline:
        found = list(out.glob("*/records.jsonl"))
        if found and found[0].stat().st_size:
            process.kill()
            killed_at = found[0].read_bytes().count(b"\n")
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert 0 < killed_at < reference.count(b"\n"), "killed before the end, after a record"
    (folder,) = out.iterdir()
    kept = (folder / "records.jsonl").read_bytes()
    assert reference.startswith(kept[: kept.rfind(b"\n") + 1])  # written in the work's order
    options = ("--resume", str(folder), "--ray-address", two_nodes, "--boards", "qemu-an386")
    resumed, _ = _run(campaign, out, *options, env=env)
    assert resumed == folder
    assert (folder / "records.jsonl").read_bytes() == reference
    records = RecordFile(folder / "records.jsonl").read()
    assert len({record.key for record in records}) == len(records) == reference.count(b"\n")
    execution = json.loads((folder / "run.json").read_text())["execution"]
    assert execution["ray_address"] == two_nodes and execution["nodes"] == 2


def test_a_worker_refuses_model_files_other_than_the_commands() -> None:
    """A node whose checkout holds another model file would write other records: refused."""
    files = cluster._model_files("cifar10-resnet8", [])
    assert set(files) == {"float"} and len(files["float"]) == 64
    cluster._check_model_files("cifar10-resnet8", files)
    with pytest.raises(UserError, match="another float file of cifar10-resnet8"):
        cluster._check_model_files("cifar10-resnet8", {"float": "0" * 64})
