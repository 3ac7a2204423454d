"""Put a model on a board: build the firmware, then start it in QEMU or upload it."""

from __future__ import annotations

from pathlib import Path

from host.board import firmware, platformio, qemu
from host.errors import UserError


def start_emulated(
    model: str | None,
    board_name: str,
    port: int | None = None,
    elf: Path | None = None,
    defense: firmware.Defense | None = None,
) -> qemu.EmulatorState:
    """Build the firmware (cached, with ``defense`` built in; or take a built ``elf``) and start
    it in the background, replacing a running board once the new one answers. ``model`` None
    (with ``elf``): the model the firmware reports."""
    board = firmware.board(board_name)
    if board.qemu_machine is None:
        raise UserError(f"board {board.name} is a real board; use `make flash BOARD={board.name}`")
    if elf is None:
        if model is None:
            raise UserError("give a model to build, or a built firmware (--elf)")
        elf = firmware.build(model, board.name, defense=defense).elf
    return qemu.start(board.qemu_machine, Path(elf), board.name, model, port)


def flash(
    model: str,
    board_name: str,
    port: str | None = None,
    use_platformio: bool = False,
    defense: firmware.Defense | None = None,
):
    """Emulated boards start in the background (returns their state); real boards are uploaded
    by PlatformIO (returns None; for QEMU boards through PlatformIO, the started board's state
    with ``model`` recorded). ``port``: a TCP port for QEMU boards, else the upload port.
    ``defense``: squeezers built into the firmware."""
    board = firmware.board(board_name)
    emulated = board.qemu_machine is not None
    tcp_port = qemu.check_port(port) if emulated and port is not None else None
    if emulated and not use_platformio:
        return start_emulated(model, board.name, tcp_port, defense=defense)
    platformio.upload(model, board, port, defense)
    return qemu.record_model(model) if emulated else None
