"""Put a model on a board: build the firmware, then start it in QEMU or upload it."""

from __future__ import annotations

from pathlib import Path

from host.board import firmware, platformio, qemu
from host.errors import UserError


def start_emulated(
    model: str, board_name: str, port: int | None = None, elf: Path | None = None
) -> qemu.EmulatorState:
    """Build the firmware (cached; or take a built ``elf``) and start it in the background,
    replacing a running board."""
    board = firmware.board(board_name)
    if board.qemu_machine is None:
        raise UserError(f"board {board.name} is a real board; use `make flash BOARD={board.name}`")
    if elf is None:
        elf = firmware.build(model, board.name).elf
    return qemu.start(board.qemu_machine, Path(elf), board.name, model, port)


def flash(model: str, board_name: str, port: str | None = None, use_platformio: bool = False):
    """Emulated boards start in the background (returns their state); real boards are uploaded
    by PlatformIO (returns None)."""
    board = firmware.board(board_name)
    if board.qemu_machine is not None and not use_platformio:
        return start_emulated(model, board.name, int(port) if port else None)
    platformio.upload(model, board, port)
    return None
