"""Run firmware in QEMU with its UART on a loopback TCP port.

``start`` keeps one emulated board running in the background and records it in a state file
(``build/emulator.json``, or ``$TINYROBUST_EMULATOR_STATE``: the tests use their own), so other
commands find it with ``running_board()``. Tests use ``Emulator`` directly (a context manager
that always stops QEMU).

The state file is checked before it is believed (``inspect_state``): its pid must be a process
(> 1) whose command line is QEMU running the recorded ELF on the recorded port, started from this
checkout. Anything else is "no board", and ``stop`` signals nothing. A new board replaces the
running one only once it answers HELLO (docs/boards.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from host.board.client import Device
from host.board.protocol import Hello
from host.errors import LinkError, UserError
from host.paths import BUILD, REPO_ROOT

STATE_ENV = "TINYROBUST_EMULATOR_STATE"
STATE_FILE = Path(os.environ.get(STATE_ENV) or BUILD / "emulator.json")
QEMU = "qemu-system-arm"
HELLO_SECONDS = 15.0  # a new board must answer HELLO within this after its port opens
EM_ARM = 40  # ELF e_machine of 32-bit Arm
URL = re.compile(r"socket://127\.0\.0\.1:(\d+)$")


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


def check_port(port: object) -> int:
    """A TCP port number (1-65535) given as an int or a decimal string, else a UserError."""
    text = str(port).strip()
    if isinstance(port, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UserError(f"port must be a TCP port number from 1 to 65535, got {port!r}")
    return int(text)


def check_elf(path: Path) -> None:
    """A UserError unless ``path`` is a complete 32-bit little-endian Arm ELF executable."""
    if not path.is_file():
        raise UserError(f"firmware file {path} does not exist")
    data = path.read_bytes()
    why = _elf_problem(data)
    if why:
        raise UserError(f"{path} is not a valid ARM executable: {why}")


def _elf_problem(data: bytes) -> str | None:
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return "no ELF header"
    if data[4] != 1 or data[5] != 1:
        return "not a 32-bit little-endian ELF"
    machine, _, _, phoff = struct.unpack_from("<HIII", data, 18)
    if machine != EM_ARM:
        return f"built for machine {machine}, not Arm ({EM_ARM})"
    entsize, count = struct.unpack_from("<HH", data, 42)
    if count == 0 or phoff + entsize * count > len(data):
        return "no program headers (truncated?)"
    for i in range(count):
        kind, offset, _, _, size = struct.unpack_from("<IIIII", data, phoff + i * entsize)
        if kind == 1 and offset + size > len(data):  # PT_LOAD beyond the end of the file
            return f"truncated ({len(data)} bytes, a segment ends at {offset + size})"
    return None


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
        _serial(port),
        "-monitor",
        monitor,
    ]


def _serial(port: int) -> str:
    return f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"


@dataclass
class EmulatorState:
    """What the state file records about a running emulated board."""

    pid: int
    url: str
    board: str
    model: str
    elf: str
    monitor_port: int | None
    checkout: str = ""  # the checkout that started it (REPO_ROOT); empty in older files

    @property
    def port(self) -> int | None:
        match = URL.match(self.url) if isinstance(self.url, str) else None
        return int(match[1]) if match else None


def _die_with_parent() -> None:
    """In the child before exec: on Linux, QEMU gets SIGTERM when its parent dies, so a killed
    test run leaves no emulator behind (the parent is the thread that called start())."""
    if sys.platform.startswith("linux"):
        import ctypes  # only in the child process, on Linux

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Emulator:
    """One QEMU process running a firmware; stop() (or the with-block) always ends it."""

    def __init__(self, machine: str, elf: Path, port: int | None = None, monitor: bool = True):
        if port is not None:
            port = check_port(port)
            if not port_is_free(port):
                raise UserError(f"port {port} is busy; choose another with --port")
        self.elf = Path(elf)
        self.port = port or free_port()
        self.monitor_port = free_port() if monitor else None
        self.command = qemu_command(machine, self.elf, self.port, self.monitor_port)
        self.process: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self, detach: bool = False) -> Emulator:
        """Start QEMU and wait until its serial port accepts connections (QEMU's own error
        message, from its stderr, when it exits instead)."""
        self._stderr = tempfile.TemporaryFile()  # QEMU keeps it after a detached start
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=detach,
            preexec_fn=None if detach else _die_with_parent,
        )
        try:
            self._wait_for_port()
        except UserError:
            self.stop()
            raise
        return self

    def _wait_for_port(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise UserError(f"QEMU did not open port {self.port} within {timeout:.0f} s")

    def check_running(self) -> None:
        """A UserError with QEMU's reason when it has exited."""
        assert self.process is not None  # after start()
        code = self.process.poll()
        if code is None:
            return
        raise UserError(
            f"QEMU exited at start ({_exit_text(code)}) running {self.elf}: {self.reason()}"
        )

    def reason(self) -> str:
        """QEMU's first line on stderr, or why there is none."""
        lines: list[str] = []
        if self._stderr is not None and not self._stderr.closed:
            self._stderr.seek(0)
            lines = self._stderr.read(4096).decode(errors="replace").strip().splitlines()
        if lines:
            return lines[0].strip()
        problem = _elf_problem(self.elf.read_bytes()) if self.elf.is_file() else "no such file"
        if problem:
            return f"the ELF is not a valid ARM executable ({problem})"
        return "no message from QEMU"

    def hello(self, timeout: float = HELLO_SECONDS) -> Hello:
        """The firmware's HELLO: proof that it runs (a UserError with the cause otherwise)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_running()
            try:
                with Device(self.url) as device:
                    return device.info
            except (UserError, LinkError) as error:
                last = str(error)
        raise UserError(
            f"{self.elf} started in QEMU but does not answer HELLO within {timeout:.0f} s "
            f"(is it a tinyrobust firmware for this board?): {last}"
        )

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
        if self._stderr is not None:
            self._stderr.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"code {code}"


def monitor_command(port: int, command: str) -> None:
    """Send one line to a QEMU monitor listening on a TCP port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        time.sleep(0.2)  # let QEMU read the line before the connection closes


# ---------------------------------------------------------------- the state file


def _why_not_ours(state: EmulatorState) -> str | None:
    """Why the recorded board is not a board of this checkout running now (None: it is)."""
    pid = state.pid
    if type(pid) is not int or pid <= 1:
        return f"pid {pid!r} is not a process id of a board"
    if state.port is None:
        return f"url {state.url!r} is not a loopback socket:// URL"
    if state.checkout != str(REPO_ROOT) and (
        state.checkout or not Path(state.elf).resolve().is_relative_to(REPO_ROOT)
    ):
        return f"it was started by another checkout ({state.checkout or state.elf})"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid} is not running"
    args = [arg.decode(errors="replace") for arg in argv]
    if not Path(args[0]).name.startswith(QEMU):
        return f"process {pid} is not QEMU (it runs {Path(args[0]).name or 'nothing'})"
    kernel = args[args.index("-kernel") + 1] if "-kernel" in args[:-1] else None
    if kernel != state.elf or _serial(state.port) not in args:
        return f"process {pid} is another QEMU (not {state.elf} on port {state.port})"
    return None


def inspect_state() -> tuple[EmulatorState | None, str | None]:
    """(the recorded board, None) when it is ours and runs; (None, why not) when the state
    file exists but is not believed; (None, None) when there is no state file."""
    if not STATE_FILE.is_file():
        return None, None
    try:
        state = EmulatorState(**json.loads(STATE_FILE.read_text()))
    except (ValueError, TypeError, OSError) as error:
        return None, f"the state file {STATE_FILE} is unreadable ({error})"
    texts = (state.url, state.board, state.model, state.elf, state.checkout)
    if not all(isinstance(text, str) for text in texts):
        return None, f"the state file {STATE_FILE} is unreadable (a field is not text)"
    why = _why_not_ours(state)
    return (None, why) if why else (state, None)


def read_state() -> EmulatorState | None:
    """The recorded emulator if it is ours and runs, else None."""
    return inspect_state()[0]


def running_board() -> str | None:
    """The serial URL of the emulated board started by ``host.emulator start``, or None."""
    state = read_state()
    return state.url if state else None


def _write_state(state: EmulatorState) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(asdict(state), indent=2) + "\n")


def record_model(model: str) -> EmulatorState | None:
    """Record the model name of the running board (after a PlatformIO "upload" started it from
    its ELF); None when no board of ours runs."""
    state = read_state()
    if state is not None:
        state.model = model
        _write_state(state)
    return state


def start(
    machine: str, elf: Path, board: str, model: str | None, port: int | None = None
) -> EmulatorState:
    """Start a built firmware on a QEMU machine in the background and, once it answers HELLO,
    stop the board it replaces. ``model`` None: the name the firmware reports in HELLO.

    When ``port`` is the running board's port, the new firmware is first proven on a free port
    (it answers HELLO), and only then is the running board stopped to free its port."""
    elf = Path(elf).resolve()
    check_elf(elf)
    port = None if port is None else check_port(port)
    old = read_state()
    if old is not None and port == old.port:
        with Emulator(machine, elf, monitor=False) as trial:
            trial.hello()
        _terminate(old)
        old = None
    emulator = Emulator(machine, elf, port).start(detach=True)
    try:
        hello = emulator.hello()
    except UserError:
        emulator.stop()
        raise
    assert emulator.process is not None  # start() launched it
    if old is not None:
        _terminate(old)
    state = EmulatorState(
        pid=emulator.process.pid,
        url=emulator.url,
        board=board,
        model=model or hello.model,
        elf=str(elf),
        monitor_port=emulator.monitor_port,
        checkout=str(REPO_ROOT),
    )
    _write_state(state)
    return state


def _terminate(state: EmulatorState) -> None:
    """SIGTERM to a checked board, then wait (5 s at most) until it is gone."""
    os.kill(state.pid, signal.SIGTERM)
    for _ in range(50):
        if _why_not_ours(state) is not None:
            return
        time.sleep(0.1)


def stop() -> str:
    """Stop the recorded emulator if it is ours; one line saying what was done."""
    state, why = inspect_state()
    STATE_FILE.unlink(missing_ok=True)
    if state is not None:
        _terminate(state)
        return f"stopped {state.board} running {state.model} (pid {state.pid})"
    if why is not None:
        return f"signalled nothing: {why}; removed the stale state file"
    return "no emulated board was running"
