"""One process per board: an advisory lock file per board URL, machine-wide.

A board answers one client at a time (QEMU's serial socket serves one connection and queues the
next without a word), so a second process would see no firmware at all. ``BoardLock(url)`` takes
``<tmp>/tinyrobust-boards/<url>.lock`` with ``flock`` and writes its pid and command line into it;
another process that wants the same board is told who holds it. The kernel drops the lock when
its holder exits, however it exits, so a crashed run never leaves a board locked.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import tempfile
from pathlib import Path

from host.errors import UserError

LOCK_DIR = Path(tempfile.gettempdir()) / "tinyrobust-boards"
MAX_COMMAND = 120  # characters of the holder's command line shown


def lock_path(url: str) -> Path:
    """The lock file of the board at ``url``."""
    return LOCK_DIR / (re.sub(r"[^A-Za-z0-9.-]+", "_", url).strip("_") + ".lock")


def command_line() -> str:
    """This process's command line as a user typed it (``python -m host.evaluate ...``)."""
    try:
        words = Path("/proc/self/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        words = [sys.executable, *sys.argv]
    words[0] = Path(words[0]).name
    text = " ".join(" ".join(words).split())  # one line, whatever the arguments hold
    return text if len(text) <= MAX_COMMAND else text[: MAX_COMMAND - 3] + "..."


class BoardLock:
    """The lock on one board, held from construction until ``release()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = lock_path(url)
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 4096).decode(errors="replace").strip()
            self.release()
            pid, _, command = holder.partition("\n")
            raise UserError(
                f"the board at {url} is busy: used by pid {pid or '?'} ({command or 'unknown'})"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n{command_line()}\n".encode())

    def release(self) -> None:
        """Let another process use the board (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BoardLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
