"""``python -m host.emulator start|stop|status``: one emulated board in the background."""

from __future__ import annotations

import sys
from pathlib import Path

from host.board import qemu
from host.board.flash import start_emulated
from host.errors import CommandParser, cli_main


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="python -m host.emulator", description="Run the firmware on an emulated board."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="build and start a board in the background")
    start_parser.add_argument(
        "--model",
        default=None,
        help="zoo model name or model folder (docs/models.md; default cifar10-resnet8, or with "
        "--elf the model the firmware reports)",
    )
    start_parser.add_argument("--board", default="qemu-an386", help="emulated board")
    start_parser.add_argument("--port", default=None, help="TCP port 1-65535 (default: free)")
    start_parser.add_argument("--elf", type=Path, default=None, help="run this built firmware")
    commands.add_parser("stop", help="stop the running board")
    commands.add_parser("status", help="show the running board")
    args = parser.parse_args(argv)
    if args.command == "start":
        port = None if args.port is None else qemu.check_port(args.port)
        model = args.model or (None if args.elf else "cifar10-resnet8")
        state = start_emulated(model, args.board, port, args.elf)
        print(f"{state.board} running {state.model} at {state.url} (pid {state.pid})")
    elif args.command == "stop":
        print(qemu.stop())
    else:
        found, why = qemu.inspect_state()
        if found is None:
            print("no emulated board running" + (f" ({why})" if why else ""))
            return 1
        print(f"{found.board} running {found.model} at {found.url} (pid {found.pid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
