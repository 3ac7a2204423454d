"""Build the firmware for one model and one board: compiler output + engine + app + board.

Builds with Debian's arm-none-eabi toolchain (no PlatformIO needed for the emulated boards) and
caches every build under ``build/firmware/<board>/<model>-<key>/``, where the key hashes the
model file, every source file, the flags (a built-in defense's included) and the toolchain
version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from host import compiler, datafile, zoo
from host.board import wire
from host.errors import UserError
from host.paths import BUILD, FIRMWARE, REPO_ROOT
from host.tflite import Tensor, check_model_bytes, read_model_bytes, read_tensors

BUILD_ROOT = BUILD / "firmware"
OBJECT_CACHE = BUILD_ROOT / "objects"
TEST_MODEL = "test-model"  # the hand-written model of firmware/app/test_model (protocol tests)
TOOL_PREFIX = "arm-none-eabi-"
MAX_BATCH = 8  # inputs per INFER frame at most (more saves nothing on a UART)
GEMMLOWP = Path("/usr/include/gemmlowp")
DEFENSE_KINDS = ("bits", "median")  # the squeezers firmware/app/defense.cc runs
DEFENSE_INPUT_TYPES = {"INT8": 1, "INT16": 2}  # the input types they take (engine type codes)

CPU_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
COMMON_FLAGS = [
    "-O2",
    "-ffunction-sections",
    "-fdata-sections",
    "-Wall",
    "-Wextra",
    "-Werror",
]
C_FLAGS = ["-std=c11"]
CXX_FLAGS = ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"]
LINK_FLAGS = ["-nostartfiles", "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs"]


@dataclass(frozen=True, kw_only=True)
class Board:
    """One board: its sources, linker script, defines and how to run or upload it."""

    name: str  # the name of its TOML file, firmware/boards/<family>/<name>.toml
    family: str  # the folder of its TOML file: board.c and linker scripts
    linker_script: str
    ram_bytes: int
    flash_bytes: int
    frame_budget: int  # RAM for the receive buffer: inputs per INFER = budget // input bytes
    defines: tuple[str, ...] = ()
    qemu_machine: str | None = None  # emulated boards
    pio_env: str | None = None  # real boards (platformio.ini environment)
    description: str = ""
    aliases: tuple[str, ...] = field(default=())


def load_board(path: Path) -> Board:
    """The board declared by ``path`` (``<family>/<name>.toml``), checked field by field."""
    entry = datafile.load(Board, path, name=path.stem, family=path.parent.name)
    script = path.parent / entry.linker_script
    if not script.is_file():
        raise UserError(f"{path}: field 'linker_script' names a missing file {script}")
    return entry


def load_boards(directory: Path) -> dict[str, Board]:
    """Every board declared under ``directory`` (``*/*.toml``): emulated ones first."""
    entries = sorted(
        (load_board(path) for path in sorted(directory.glob("*/*.toml"))),
        key=lambda entry: (entry.qemu_machine is None, entry.name),
    )
    owners: dict[str, str] = {}  # board name or alias -> the board it names
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            if name in owners:
                path = directory / entry.family / f"{entry.name}.toml"
                raise UserError(f"{path}: board name {name!r} is taken by board {owners[name]}")
            owners[name] = entry.name
    return {entry.name: entry for entry in entries}


@functools.cache
def boards() -> dict[str, Board]:
    """The boards of this checkout (firmware/boards/), read once."""
    return load_boards(FIRMWARE / "boards")


def __getattr__(name: str) -> dict[str, Board]:
    # BOARDS is read on first use, so that a broken board TOML is a one-line UserError inside a
    # command rather than a traceback when the module is imported.
    if name == "BOARDS":
        return boards()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def board(name: str) -> Board:
    """The board called ``name`` (or one of its aliases); a UserError listing the known ones."""
    for entry in boards().values():
        if name == entry.name or name in entry.aliases:
            return entry
    raise UserError(f"unknown board {name!r}; known: {', '.join(boards())}")


@dataclass(frozen=True)
class Defense:
    """Input squeezers built into the firmware (firmware/app/defense.h), run in this order on
    every input, on the model's input lattice [lo, hi]: the raw values of pixels 0 and 1."""

    steps: tuple[tuple[str, int], ...]  # (("bits", 5), ("median", 2)): bits5+median2
    lo: int
    hi: int

    @property
    def name(self) -> str:
        """As written after a '+' in a backend name, and in the board's HELLO."""
        return "+".join(f"{kind}{value}" for kind, value in self.steps)


@dataclass(frozen=True)
class Firmware:
    """A built firmware image and what went into it."""

    elf: Path
    board: Board
    model: str
    key: str
    text_bytes: int
    data_bytes: int
    bss_bytes: int
    defense: str = ""  # the built-in defense's name, "" for none

    @property
    def ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes


def _tool(name: str) -> str:
    path = shutil.which(TOOL_PREFIX + name)
    if path is None:
        raise UserError(f"{TOOL_PREFIX}{name} not found; install it with `make apt`")
    return path


def model_path(model: str) -> Path | None:
    """The int8 .tflite of a model: a zoo name or a user's model folder (None for the built-in
    test model)."""
    if model == TEST_MODEL:
        return None
    return zoo.model_file(model, "int8")


def io_tensors(path: Path) -> tuple[Tensor, Tensor]:
    """The first input and the first output tensor of a .tflite model."""
    model = check_model_bytes(read_model_bytes(path), str(path))
    graph = model.subgraphs[0]
    tensors = read_tensors(model)
    return tensors[graph.inputs[0]], tensors[graph.outputs[0]]


def io_bytes(path: Path) -> tuple[int, int]:
    """Bytes of the first input and the first output tensor of a .tflite model."""
    tensor_in, tensor_out = io_tensors(path)
    return tensor_in.nbytes, tensor_out.nbytes


def defense_defines(defense: Defense, path: Path | None) -> list[str]:
    """The defines of firmware/app/defense.h for ``defense`` on the model ``path``; a UserError
    for a defense the firmware cannot run (value ranges are checked by defense.cc's #errors)."""
    if path is None:
        raise UserError("the test model takes no defense")
    kinds = [kind for kind, _ in defense.steps]
    if not kinds or set(kinds) - set(DEFENSE_KINDS) or len(set(kinds)) < len(kinds):
        raise UserError(
            f"the firmware runs bits<b> and median<k>, each at most once; not {defense.name!r}"
        )
    tensor = io_tensors(path)[0]
    if tensor.type_name not in DEFENSE_INPUT_TYPES:
        raise UserError(
            f"{path.name}: the firmware's defenses take int8 or int16 inputs, not "
            f"{tensor.type_name.lower()}"
        )
    if "median" in kinds and (len(tensor.shape) != 4 or tensor.shape[0] != 1):
        raise UserError(
            f"{path.name}: median smoothing needs a [1, height, width, channels] input, not "
            f"{list(tensor.shape)}"
        )
    if defense.hi <= defense.lo:
        raise UserError(f"{path.name}: an empty input lattice [{defense.lo}, {defense.hi}]")
    defines = [f"TR_DEFENSE_{kind.upper()}={value}" for kind, value in defense.steps]
    if kinds == ["median", "bits"]:
        defines.append("TR_DEFENSE_MEDIAN_FIRST=1")
    return [
        *defines,
        f"TR_DEFENSE_LO={defense.lo}",
        f"TR_DEFENSE_HI={defense.hi}",
        f"TR_DEFENSE_TYPE={DEFENSE_INPUT_TYPES[tensor.type_name]}",
        f"TR_DEFENSE_BYTES={tensor.nbytes}",
    ]


def buffer_bytes(path: Path | None, entry: Board, batch: int | None = None) -> tuple[int, int]:
    """RX and TX frame buffer sizes: ``batch`` inputs per INFER frame, by default as many as
    the board's frame budget holds (1 to MAX_BATCH)."""
    in_bytes, out_bytes = (192, 10) if path is None else io_bytes(path)
    if batch is None:
        batch = max(1, min(MAX_BATCH, entry.frame_budget // in_bytes))
    fixed = wire.HEADER.size + wire.CRC.size + wire.BATCH_HEADER.size
    return fixed + batch * in_bytes, fixed + batch * (wire.RESULT_HEADER.size + out_bytes)


def _sources(entry: Board, with_engine: bool) -> list[Path]:
    dirs = [FIRMWARE / "app", FIRMWARE / "boards" / "common", FIRMWARE / "boards" / entry.family]
    files = [p for d in dirs for p in sorted(d.glob("*")) if p.suffix in (".c", ".cc")]
    if with_engine:
        files += compiler.engine_sources()
    return files


def _hashed_inputs(entry: Board) -> list[Path]:
    roots = [FIRMWARE / "app", FIRMWARE / "boards", FIRMWARE / "engine", FIRMWARE / "templates"]
    files = [p for r in roots if r.is_dir() for p in sorted(r.rglob("*")) if p.is_file()]
    files += sorted((REPO_ROOT / "host" / "compiler").glob("*.py"))
    files += sorted((REPO_ROOT / "host" / "board").glob("*.py"))
    return files


def _generate_model(model: str, path: Path, out_dir: Path) -> list[Path]:
    """Compile a .tflite model to C++ sources in ``out_dir`` (host/compiler/)."""
    compiled = compiler.compile_model(path, name=model)
    (out_dir / "model.cc").write_text(compiled.source)
    return [out_dir / "model.cc"]


def _build_key(entry: Board, model: str, path: Path | None, defines: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([entry.name, model, defines, CPU_FLAGS, COMMON_FLAGS]).encode())
    version = subprocess.run(
        [_tool("gcc"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    digest.update(version.encode())
    if path is not None:
        digest.update(path.read_bytes())
    for file in _hashed_inputs(entry):
        digest.update(str(file.relative_to(REPO_ROOT)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _headers_hash() -> str:
    digest = hashlib.sha256()
    for header in sorted(FIRMWARE.rglob("*.h")):
        digest.update(str(header.relative_to(FIRMWARE)).encode() + header.read_bytes())
    return digest.hexdigest()


def _compile(source: Path, include_dirs: list[Path], defines: list[str], headers: str) -> Path:
    """Compile one source into the shared object cache (keyed by everything that shapes the
    object, so engine and board objects are reused across models); returns the object."""
    is_cxx = source.suffix == ".cc"
    command = [_tool("g++" if is_cxx else "gcc"), *CPU_FLAGS, *COMMON_FLAGS]
    command += CXX_FLAGS if is_cxx else C_FLAGS
    command += [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    if GEMMLOWP.is_dir():
        command += ["-isystem", str(GEMMLOWP)]  # fixedpoint/fixedpoint.h (libgemmlowp-dev)
    key_parts = [c for c in command if not c.startswith(f"-I{BUILD_ROOT}")]
    digest = hashlib.sha256(json.dumps([key_parts, headers]).encode() + source.read_bytes())
    obj = OBJECT_CACHE / f"{source.stem}-{digest.hexdigest()[:20]}.o"
    if obj.is_file():
        return obj
    OBJECT_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_suffix(f".tmp{os.getpid()}")
    result = subprocess.run(
        [*command, "-c", str(source), "-o", str(tmp)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise UserError(f"compiling {source.name} failed:\n{result.stderr.strip()}")
    tmp.replace(obj)
    return obj


def _size(elf: Path) -> tuple[int, int, int]:
    result = subprocess.run([_tool("size"), str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = result.stdout.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def build(
    model: str,
    board_name: str,
    max_batch: int | None = None,
    jobs: int = 2,
    defense: Defense | None = None,
) -> Firmware:
    """Build (or reuse from the cache) the firmware of ``model`` for ``board_name``, with
    ``defense`` run on every input before the model."""
    entry = board(board_name)
    path = model_path(model)
    rx, tx = buffer_bytes(path, entry, max_batch)
    defines = [*entry.defines, f"TR_RX_BUFFER_BYTES={rx}", f"TR_TX_BUFFER_BYTES={tx}"]
    if defense is not None:
        defines += defense_defines(defense, path)
    label = model if path is None else zoo.spec(model).name  # a user's folder: its name
    key = _build_key(entry, label, path, defines)  # the name and the file, not where it is
    suffix = "" if defense is None else f"+{defense.name}"
    out = BUILD_ROOT / entry.name / f"{label}{suffix}-{key}"
    elf = out / "firmware.elf"
    if not elf.is_file():
        _build_into(out, entry, label, path, defines, jobs)
    text, data, bss = _size(elf)
    name = "" if defense is None else defense.name
    return Firmware(elf, entry, model, key, text, data, bss, name)


def _build_into(
    out: Path, entry: Board, model: str, path: Path | None, defines: list[str], jobs: int
) -> None:
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    board_defines = list(entry.defines)
    if path is None:
        model_sources = [FIRMWARE / "app" / "test_model" / "test_model.cc"]
        model_dir = FIRMWARE / "app" / "test_model"
    else:
        model_dir = tmp / "model"
        model_dir.mkdir()
        model_sources = _generate_model(model, path, model_dir)
    sources = _sources(entry, with_engine=path is not None) + model_sources
    wire_header = wire.write_header(tmp / "generated")  # from host/board/wire.py
    include_dirs = [
        FIRMWARE / "app",
        FIRMWARE / "engine",
        FIRMWARE / "boards" / "common",
        FIRMWARE / "boards" / entry.family,
        model_dir,
        wire_header.parent,
    ]
    headers = _headers_hash() + hashlib.sha256(wire_header.read_bytes()).hexdigest()

    def compile_one(source: Path) -> Path:
        # The app sees the buffer sizes, the board code its options, the engine and the model
        # nothing: their objects are shared by every board and build.
        if source.parent == FIRMWARE / "app":
            own = defines
        elif FIRMWARE / "boards" in source.parents:
            own = board_defines
        else:
            own = []
        return _compile(source, include_dirs, own, headers)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        objects = list(pool.map(compile_one, sources))
    elf = tmp / "firmware.elf"
    command = [_tool("gcc"), *CPU_FLAGS, *LINK_FLAGS]
    script = FIRMWARE / "boards" / entry.family / entry.linker_script
    command += [f"-L{FIRMWARE / 'boards' / 'common'}", f"-T{script}"]
    command += [str(o) for o in objects] + ["-o", str(elf), f"-Wl,-Map={tmp / 'firmware.map'}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"linking the firmware for {entry.name} failed:\n{result.stderr.strip()}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
