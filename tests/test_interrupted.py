"""A board killed mid-run: one line naming it, the records so far kept, and an exact resume.

A PGD campaign runs in a subprocess (``python -m host.evaluate --attacks pgd --backends
tflm-int8,device-int8``) against QEMU running the cifar10-resnet8 firmware; QEMU is killed
(SIGKILL) as soon as the first records are written. The command must print one ``error:`` line
naming the board and the cause, exit with code 2 and keep its records; on a restarted board,
the command it prints resumes the run to the records of a run that was never interrupted.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.board import firmware, qemu
from host.paths import REPO_ROOT
from host.records import RecordFile

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)

MODEL = "cifar10-resnet8"
# A chunk's adversarial examples at every eps go to each backend in one call, so records come
# attack by attack: the board is killed once the first attack's records are written.
ATTACKS = ("pgd", "fgsm")


@pytest.fixture(scope="module")
def elf() -> Path:
    return firmware.build(MODEL, "qemu-an386").elf


def _command(out: Path, n: int, eps: str) -> list[str]:
    return [
        *(sys.executable, "-m", "host.evaluate", "--model", MODEL, "--attacks", ",".join(ATTACKS)),
        *("--eps", eps, "--backends", "tflm-int8,device-int8", "--n", str(n)),
        *("--out", str(out)),
    ]


def _run(command: list[str], url: str, kill: qemu.Emulator | None = None):
    """Run ``command`` against the board at ``url``; with ``kill``, SIGKILL that board as soon
    as the run's first records are written. The finished process and its records file."""
    env = {**os.environ, "TINYROBUST_DEVICE": url}
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out = Path(command[command.index("--out") + 1])
    while kill is not None and process.poll() is None:
        records = [path for path in out.glob("*/records.jsonl") if path.stat().st_size]
        if records:
            assert kill.process is not None
            kill.process.kill()
            break
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=300)
    (records,) = out.glob("*/records.jsonl")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), records


def _key(record) -> tuple:
    return record.attack, record.eps, record.index


def _killed(elf: Path, out: Path, n: int, eps: str) -> tuple[Path, list, list[str], int]:
    """A run whose board is killed: checked to fail in one line and keep its records. Its
    records file, the records kept, the command printed to continue, the board's port."""
    board = qemu.Emulator("mps2-an386", elf).start()
    try:
        done, path = _run(_command(out, n, eps), board.url, kill=board)
    finally:
        board.stop()
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert board.url in errors[0] and "records so far are kept" in errors[0]
    kept = RecordFile(path).read()
    total = n * len(eps.split(",")) * len(ATTACKS)
    assert 0 < len(kept) < total, "the board outlived the run: make it longer"
    again = shlex.split(errors[0].split("continue with: ", 1)[1])
    assert again[:3] == ["python", "-m", "host.evaluate"]
    assert again[-2:] == ["--resume", str(path.parent)]
    return path, kept, again, board.port


def test_killed_board_is_one_line_and_the_records_are_kept(elf, tmp_path) -> None:
    _killed(elf, tmp_path, n=2, eps="0.002,0.004,0.008")


@pytest.mark.slow
def test_the_printed_command_resumes_to_an_uninterrupted_run(elf, tmp_path) -> None:
    n, eps = 8, "0.002,0.004,0.006,0.008,0.01"
    path, kept, again, port = _killed(elf, tmp_path / "killed", n, eps)
    with qemu.Emulator("mps2-an386", elf, port) as board:  # the same URL again
        resumed, path_again = _run([sys.executable, *again[1:]], board.url)
    assert resumed.returncode == 0 and path_again == path, resumed.stderr[-2000:]
    records = sorted(RecordFile(path).read(), key=_key)
    assert [r.to_dict() for r in records if r in kept] == [r.to_dict() for r in kept]
    total = n * len(eps.split(",")) * len(ATTACKS)
    assert len({_key(r) for r in records}) == len(records) == total
    for record in records:  # the board computed what TFLite Micro computes
        assert record.backends["device-int8"].raw == record.backends["tflm-int8"].raw

    with qemu.Emulator("mps2-an386", elf) as board:
        done, whole = _run(_command(tmp_path / "whole", n, eps), board.url)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = sorted(RecordFile(whole).read(), key=_key)
    assert [r.to_dict() for r in records] == [r.to_dict() for r in expected]
