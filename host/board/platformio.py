"""Real boards (and the emulated ones, on request) built and uploaded through PlatformIO.

PlatformIO builds the sources platformio.ini names plus the model source and the wire-format
header (``wire.h``, from host/board/wire.py) written here to ``build/pio/model/``;
``platformio run -e ENV -t upload`` flashes it (for QEMU environments the local platform's
"upload" starts the emulator).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from host.board import firmware, wire
from host.compiler import compile_model
from host.errors import UserError
from host.paths import BUILD, REPO_ROOT

PIO_MODEL_DIR = BUILD / "pio" / "model"


def write_pio_sources(
    model: str, board: firmware.Board, defense: firmware.Defense | None = None
) -> Path:
    """Write the model source, wire.h and the buffer sizes (and a built-in defense's defines)
    where platformio.ini looks for them."""
    path = firmware.model_path(model)
    if path is None:
        raise UserError("the test model runs only on the emulated boards")
    defines = [] if defense is None else firmware.defense_defines(defense, path)
    PIO_MODEL_DIR.mkdir(parents=True, exist_ok=True)
    compiled = compile_model(path, name=model)
    (PIO_MODEL_DIR / "model.cc").write_text(compiled.source)
    wire.write_header(PIO_MODEL_DIR)
    rx, tx = firmware.buffer_bytes(path, board)
    (PIO_MODEL_DIR / "tr_build_config.h").write_text(
        "// Written by host.flash for PlatformIO builds.\n"
        f"#define TR_RX_BUFFER_BYTES {rx}\n#define TR_TX_BUFFER_BYTES {tx}\n"
        + "".join(f"#define {name} {value}\n" for name, value in (d.split("=") for d in defines))
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


def upload(
    model: str, board: firmware.Board, port: str | None, defense: firmware.Defense | None = None
) -> None:
    """Build and upload through PlatformIO (for QEMU boards, "upload" starts the emulator)."""
    pio = shutil.which("platformio") or shutil.which("pio")
    if pio is None:
        raise UserError("platformio not found; install it with `make setup`")
    write_pio_sources(model, board, defense)
    if board.qemu_machine is not None:
        ensure_pio_scons()
    if board.pio_env is None:
        raise UserError(f"board {board.name} has no PlatformIO environment")
    command = [pio, "run", "-e", board.pio_env, "-t", "upload"]
    if port:
        command += ["--upload-port", port]
    result = subprocess.run(command, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        raise UserError(f"PlatformIO could not build or upload env {board.pio_env}")
