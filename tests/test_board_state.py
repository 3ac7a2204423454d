"""The emulator state file is checked before it is believed, and a board is replaced only by a
board that answers: bad pids, foreign processes and other checkouts' boards are never signalled;
a failed start leaves the running board running; ports are checked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from host import emulator, flash
from host.board import firmware, qemu
from host.board.client import Device
from host.errors import UserError


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "emulator.json"
    monkeypatch.setattr(qemu, "STATE_FILE", path)
    monkeypatch.setenv(qemu.STATE_ENV, str(path))  # for the boards PlatformIO starts
    return path


@pytest.fixture(scope="module")
def elf() -> Path:
    return firmware.build(firmware.TEST_MODEL, "qemu-an386").elf


def write_state(path: Path, **values: object) -> None:
    state = {
        "pid": 12345,
        "url": "socket://127.0.0.1:5555",
        "board": "qemu-an386",
        "model": "test-model",
        "elf": "/nowhere/firmware.elf",
        "monitor_port": None,
        "checkout": str(qemu.REPO_ROOT),
    }
    path.write_text(json.dumps({**state, **values}))


def no_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, sig: int) -> None:
        raise AssertionError(f"os.kill({pid}, {sig}) called")

    monkeypatch.setattr(qemu.os, "kill", refuse)


@pytest.mark.parametrize("pid", [-1, 0, 1, "abc", "123", True, None, 1.5])
def test_bad_pid_is_no_board(pid: object, state_file: Path, monkeypatch) -> None:
    write_state(state_file, pid=pid)
    no_signals(monkeypatch)
    state, why = qemu.inspect_state()
    assert state is None and why is not None and "pid" in why
    assert qemu.running_board() is None
    message = qemu.stop()
    assert message.startswith("signalled nothing:") and "\n" not in message
    assert not state_file.exists()


def test_garbage_state_file_is_no_board(state_file: Path, monkeypatch) -> None:
    no_signals(monkeypatch)
    for text in ["not json", "[]", json.dumps({"pid": 5}), json.dumps({"pid": 5, "url": 3})]:
        state_file.write_text(text)
        assert qemu.inspect_state()[0] is None
    write_state(state_file, url=["x"])
    assert "unreadable" in (qemu.inspect_state()[1] or "")
    assert "signalled nothing" in qemu.stop()


def test_a_foreign_process_is_never_signalled(state_file: Path) -> None:
    """A reused pid (here a harmless sleep) with a valid-looking state: refused, and alive."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        write_state(state_file, pid=sleeper.pid)
        assert "is not QEMU" in (qemu.inspect_state()[1] or "")
        assert emulator.main(["stop"]) == 0
        assert sleeper.poll() is None  # still running
        write_state(state_file, pid=sleeper.pid)
        assert emulator.main(["status"]) == 1
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_checkouts_board_is_not_ours(state_file: Path, elf: Path) -> None:
    """A real QEMU of another checkout (or on another port) is neither used nor stopped."""
    with qemu.Emulator("mps2-an386", elf, monitor=False) as other:
        assert other.process is not None
        pid = other.process.pid
        write_state(state_file, pid=pid, url=other.url, elf=str(elf), checkout="/elsewhere")
        assert "another checkout" in (qemu.inspect_state()[1] or "")
        write_state(state_file, pid=pid, url="socket://127.0.0.1:1", elf=str(elf))
        assert "another QEMU" in (qemu.inspect_state()[1] or "")
        assert "signalled nothing" in qemu.stop()
        assert other.process.poll() is None
        write_state(state_file, pid=pid, url=other.url, elf=str(elf))
        assert qemu.running_board() == other.url  # the same process, recorded right: ours


def answers(url: str) -> bool:
    return answers_model(url) == firmware.TEST_MODEL


def test_failed_starts_leave_the_running_board_running(state_file: Path, elf: Path, tmp_path):
    """Corrupt and truncated ELFs, an ELF for another machine, bad and busy ports: one-line
    errors, and the running board keeps answering HELLO; the same port is then taken over."""
    first = qemu.start("mps2-an386", elf, "qemu-an386", None)
    try:
        assert first.model == firmware.TEST_MODEL  # from HELLO
        corrupt = tmp_path / "corrupt.elf"
        corrupt.write_bytes(b"\x00garbage" * 100)
        truncated = tmp_path / "truncated.elf"
        truncated.write_bytes(elf.read_bytes()[:3000])
        stm32 = firmware.build(firmware.TEST_MODEL, "qemu-stm32f405").elf
        failures = {
            corrupt: "not a valid ARM executable: no ELF header",
            truncated: "not a valid ARM executable: truncated",
            stm32: r"QEMU exited at start \(killed by SIGABRT\) .*: qemu: fatal: Lockup",
        }
        for bad, message in failures.items():
            with pytest.raises(UserError, match=message) as caught:
                qemu.start("mps2-an386", bad, "qemu-an386", "x")
            assert "\n" not in str(caught.value)
        for port in [0, 70000, "abc", -5]:
            with pytest.raises(UserError, match="port must be a TCP port number"):
                qemu.start("mps2-an386", elf, "qemu-an386", None, port)  # type: ignore[arg-type]
        assert qemu.read_state() == first
        assert answers(first.url)

        second = qemu.start("mps2-an386", elf, "qemu-an386", "renamed", first.port)
        assert second.pid != first.pid and second.url == first.url
        assert qemu.read_state() == second and answers(second.url)
        first_cmdline = Path(f"/proc/{first.pid}/cmdline")
        assert not first_cmdline.exists() or not first_cmdline.read_bytes()
        assert qemu.record_model("cifar10-resnet8") is not None
        assert qemu.read_state().model == "cifar10-resnet8"  # type: ignore[union-attr]
    finally:
        print(qemu.stop())
    assert qemu.read_state() is None


@pytest.mark.parametrize(
    "argv",
    [
        ["host.flash", "--port", "abc"],
        ["host.flash", "--port", "0"],
        ["host.emulator", "start", "--port", "99999"],
        ["host.emulator", "start", "--port", "x1"],
    ],
)
def test_port_options_are_one_line_errors(argv: list[str], capsys, state_file: Path) -> None:
    main = flash.main if argv[0] == "host.flash" else emulator.main
    assert main(argv[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: port must be a TCP port number") and "\n" not in err
    assert not state_file.exists()


@pytest.mark.slow
def test_platformio_flash_records_the_model(state_file: Path) -> None:
    """A QEMU board built and "uploaded" by PlatformIO (which starts the ELF) records the model
    flashed, so a bare `python -m host.evaluate` finds it."""
    try:
        assert (
            flash.main(["--model", "mlperf-resnet8", "--board", "qemu-an386", "--platformio"]) == 0
        )
        state = qemu.read_state()
        assert state is not None and state.model == "mlperf-resnet8"
        assert answers_model(state.url) == "mlperf-resnet8"
    finally:
        print(qemu.stop())


def answers_model(url: str) -> str:
    with Device(url) as device:
        return device.info.model
