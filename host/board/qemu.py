"""Run firmware in QEMU with its UART on a loopback TCP port.

``start`` keeps one emulated board running in the background and records it in a state file
(``build/emulator.json``, or ``$TINYROBUST_EMULATOR_STATE``: the tests use their own), so other
commands find it with ``running_board()``. Tests use ``Emulator`` directly (a context manager
that always stops QEMU).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from host.errors import UserError
from host.paths import BUILD

STATE_ENV = "TINYROBUST_EMULATOR_STATE"
STATE_FILE = Path(os.environ.get(STATE_ENV) or BUILD / "emulator.json")
QEMU = "qemu-system-arm"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def qemu_command(machine: str, elf: Path, port: int, monitor_port: int | None) -> list[str]:
    """The QEMU command line: UART on a TCP server port, instruction counting on."""
    executable = shutil.which(QEMU)
    if executable is None:
        raise UserError(f"{QEMU} not found; install it with `make apt`")
    monitor = f"tcp:127.0.0.1:{monitor_port},server=on,wait=off" if monitor_port else "none"
    return [
        executable,
        "-M",
        machine,
        "-display",
        "none",
        "-icount",
        "shift=0",
        "-kernel",
        str(elf),
        "-serial",
        f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on",
        "-monitor",
        monitor,
    ]


@dataclass
class EmulatorState:
    """What the state file records about a running emulated board."""

    pid: int
    url: str
    board: str
    model: str
    elf: str
    monitor_port: int | None


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise UserError(f"QEMU exited at start (code {process.returncode}): {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise UserError(f"QEMU did not open port {port} within {timeout:.0f} s")


def _die_with_parent() -> None:
    """In the child before exec: on Linux, QEMU gets SIGTERM when its parent dies, so a killed
    test run leaves no emulator behind (the parent is the thread that called start())."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Emulator:
    """One QEMU process running a firmware; stop() (or the with-block) always ends it."""

    def __init__(self, machine: str, elf: Path, port: int | None = None, monitor: bool = True):
        if port is not None and not port_is_free(port):
            raise UserError(f"port {port} is busy; choose another with --port")
        self.port = port or free_port()
        self.monitor_port = free_port() if monitor else None
        self.command = qemu_command(machine, elf, self.port, self.monitor_port)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self, detach: bool = False) -> Emulator:
        """Start QEMU and wait until its serial port accepts connections."""
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if detach else subprocess.PIPE,
            start_new_session=detach,
            preexec_fn=None if detach else _die_with_parent,
        )
        try:
            _wait_for_port(self.port, self.process)
        except UserError:
            self.stop()
            raise
        return self

    def monitor(self, command: str) -> None:
        """Send one command to the QEMU monitor (e.g. ``system_reset``)."""
        if self.monitor_port is None:
            raise UserError("this emulator was started without a monitor")
        monitor_command(self.monitor_port, command)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def monitor_command(port: int, command: str) -> None:
    """Send one line to a QEMU monitor listening on a TCP port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        time.sleep(0.2)  # let QEMU read the line before the connection closes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    return not cmdline.exists() or QEMU.encode() in cmdline.read_bytes()


def read_state() -> EmulatorState | None:
    """The recorded emulator if its process is still alive, else None."""
    if not STATE_FILE.is_file():
        return None
    try:
        state = EmulatorState(**json.loads(STATE_FILE.read_text()))
    except (ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def running_board() -> str | None:
    """The serial URL of the emulated board started by ``host.emulator start``, or None."""
    state = read_state()
    return state.url if state else None


def start(
    machine: str, elf: Path, board: str, model: str, port: int | None = None
) -> EmulatorState:
    """Start a built firmware on a QEMU machine in the background, replacing a running board."""
    if not Path(elf).is_file():
        raise UserError(f"firmware file {elf} does not exist")
    stop()
    emulator = Emulator(machine, Path(elf), port).start(detach=True)
    assert emulator.process is not None  # start() launched it
    state = EmulatorState(
        emulator.process.pid, emulator.url, board, model, str(elf), emulator.monitor_port
    )
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


def stop() -> bool:
    """Stop the recorded emulator; False when none was running."""
    state = read_state()
    STATE_FILE.unlink(missing_ok=True)
    if state is None:
        return False
    os.kill(state.pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(state.pid):
            break
        time.sleep(0.1)
    return True
