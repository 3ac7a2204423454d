"""``make flash``: build the firmware for a model and put it on a board.

Emulated boards (``qemu-*``) are built with the Debian toolchain and started in the background;
real boards are built and uploaded by PlatformIO (host/board/platformio.py). ``--defense
bits5+median2`` builds bit-depth reduction and median smoothing into the firmware
(firmware/app/defense.cc), on the model's input lattice as the host computes them.
"""

from __future__ import annotations

import sys

from host.board import firmware
from host.board.flash import flash
from host.errors import CommandParser, cli_main
from host.run.boards import board_defense


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="python -m host.flash",
        description="Build the firmware for a model and flash it (real board) or start it (QEMU).",
    )
    parser.add_argument(
        "--model", default="cifar10-resnet8", help="zoo model name or model folder (docs/models.md)"
    )
    known = ", ".join(firmware.BOARDS)
    parser.add_argument("--board", default="qemu-an386", help=f"board: {known}")
    parser.add_argument(
        "--port", default=None, help="TCP port for QEMU boards, upload port for real boards"
    )
    parser.add_argument(
        "--defense",
        default=None,
        help="squeezers built into the firmware, run on every input: bits<1-15>, median<2-5>, "
        "joined by '+' and applied left to right (e.g. bits5+median2; docs/defenses.md)",
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build with the Debian toolchain, print the ELF"
    )
    parser.add_argument(
        "--platformio",
        action="store_true",
        help="build a QEMU board through its platformio.ini environment instead",
    )
    args = parser.parse_args(argv)
    board = firmware.board(args.board)
    defense = None if args.defense is None else board_defense(args.model, args.defense)
    if args.build_only:
        image = firmware.build(args.model, board.name, defense=defense)
        print(f"{image.elf} (flash {image.flash_bytes} B, static RAM {image.ram_bytes} B)")
    else:
        state = flash(args.model, board.name, args.port, args.platformio, defense)
        if state is not None:
            print(f"{board.name} running {state.model} at {state.url} (pid {state.pid})")
            print("stop it with `python -m host.emulator stop`")
        else:
            print(f"{args.model} flashed to {board.name} (PlatformIO env {board.pio_env})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
