"""``make flash``: build the firmware for a model and put it on a board.

Emulated boards (``qemu-*``) are built with the Debian toolchain and started in the background
(``host.emulator``); real boards are built and uploaded by PlatformIO (``platformio run -e ENV
-t upload``) from the sources of platformio.ini plus the model source written to build/pio/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from host import emulator, firmware
from host.errors import UserError, cli_main

PIO_MODEL_DIR = firmware.REPO_ROOT / "build" / "pio" / "model"


def write_pio_sources(model: str, board: firmware.Board) -> Path:
    """Write the model source and the buffer sizes where platformio.ini looks for them."""
    path = firmware.model_path(model)
    if path is None:
        raise UserError("the test model runs only on the emulated boards")
    PIO_MODEL_DIR.mkdir(parents=True, exist_ok=True)
    compiled = firmware._compiler().compile_model(path, name=model)
    (PIO_MODEL_DIR / "model.cc").write_text(compiled.source)
    rx, tx = firmware.buffer_bytes(path, board)
    (PIO_MODEL_DIR / "tr_build_config.h").write_text(
        "// Written by host.flash for PlatformIO builds.\n"
        f"#define TR_RX_BUFFER_BYTES {rx}\n#define TR_TX_BUFFER_BYTES {tx}\n"
    )
    return PIO_MODEL_DIR


def ensure_pio_scons() -> None:
    """On an offline machine, let PlatformIO run the pip-installed SCons as its ``tool-scons``.

    PlatformIO downloads tool-scons before any build; where it cannot (no internet) and the
    ``scons`` pip package is installed, a small package pointing at it is written instead.
    """
    from platformio.package.manager.core import get_core_package_dir
    from platformio.package.manager.tool import ToolPackageManager

    if get_core_package_dir("tool-scons", auto_install=False):
        return
    try:
        import SCons
    except ImportError:
        return  # PlatformIO downloads tool-scons itself
    major, minor, patch = (int(v) for v in SCons.__version__.split(".")[:3])
    version = f"4.{major}{minor:02d}{patch:02d}.0"  # PlatformIO's numbering of SCons releases
    package = Path(ToolPackageManager().package_dir) / "tool-scons"
    package.mkdir(parents=True, exist_ok=True)
    (package / "scons.py").write_text(
        "import sys\n\nfrom SCons.Script.Main import main\n\nsys.exit(main())\n"
    )
    (package / "package.json").write_text(
        json.dumps({"name": "tool-scons", "version": version, "description": "pip SCons"})
    )
    spec = {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None}
    meta = {"type": "tool", "name": "tool-scons", "version": version, "spec": {**spec, "uri": None}}
    (package / ".piopm").write_text(json.dumps(meta))


def upload(model: str, board: firmware.Board, port: str | None) -> None:
    """Build and upload through PlatformIO (for QEMU boards, "upload" starts the emulator)."""
    pio = shutil.which("platformio") or shutil.which("pio")
    if pio is None:
        raise UserError("platformio not found; install it with `make setup`")
    write_pio_sources(model, board)
    if board.qemu_machine is not None:
        ensure_pio_scons()
    command = [pio, "run", "-e", board.pio_env, "-t", "upload"]
    if port:
        command += ["--upload-port", port]
    result = subprocess.run(command, cwd=firmware.REPO_ROOT, check=False)
    if result.returncode != 0:
        raise UserError(f"PlatformIO could not build or upload env {board.pio_env}")


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m host.flash",
        description="Build the firmware for a model and flash it (real board) or start it (QEMU).",
    )
    parser.add_argument("--model", default="cifar10-resnet8", help="zoo model name")
    known = ", ".join(firmware.BOARDS)
    parser.add_argument("--board", default="qemu-an386", help=f"board: {known}")
    parser.add_argument(
        "--port", default=None, help="TCP port for QEMU boards, upload port for real boards"
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
    if args.build_only:
        image = firmware.build(args.model, board.name)
        print(f"{image.elf} (flash {image.flash_bytes} B, static RAM {image.ram_bytes} B)")
    elif board.qemu_machine is not None and not args.platformio:
        state = emulator.start(args.model, board.name, int(args.port) if args.port else None)
        print(f"{board.name} running {state.model} at {state.url} (pid {state.pid})")
        print("stop it with `python -m host.emulator stop`")
    else:
        upload(args.model, board, args.port)
        print(f"{args.model} flashed to {board.name} (PlatformIO env {board.pio_env})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
