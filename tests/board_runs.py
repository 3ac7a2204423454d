"""Commands run in a subprocess while one of their emulated boards is killed (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from host.paths import REPO_ROOT


def run_killing_a_board(
    command: list[str], out: Path, after: str | None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``command`` (its run folders under ``out``); with ``after``, SIGKILL the first of
    its two QEMU boards as soon as a run folder holds that file, not empty. Checked to exit 0
    without a traceback."""
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while after and process.poll() is None:
        if any(path.stat().st_size for path in out.glob(f"*/{after}")):
            qemus = qemus_under(process.pid)
            assert len(qemus) == 2, qemus
            os.kill(qemus[0], signal.SIGKILL)
            break
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout[-1500:] + stderr[-2500:]
    assert "Traceback" not in stderr, stderr[-2500:]
    return subprocess.CompletedProcess(command, 0, stdout, stderr)


def qemus_under(pid: int) -> list[int]:
    """The QEMU processes among the descendants of ``pid`` (its children, or on Ray those of
    the board actors in the worker processes of the command's Ray)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = (int(fields[1]), stat[stat.find("(") + 1 : stat.rfind(")")])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, name) in parents.items():
            if ppid == parent:
                frontier.append(child)
                if name.startswith("qemu-system"):
                    found.append(child)
    return sorted(found)
