"""Building the generated source with real toolchains: the host library and Cortex-M sizes.

``host_library`` makes a shared library of model + engine for this machine (the in-process
oracle, ``host.backends.engine``; SIMD kernels chosen from the CPU's flags); ``arm_size``
cross-compiles model + engine and measures flash and RAM.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from host import tflite
from host.compiler.emit import TEMPLATES_DIR
from host.compiler.source import compile_model, generate
from host.errors import UserError
from host.paths import BUILD, FIRMWARE

ENGINE_DIR = FIRMWARE / "engine"
BUILD_DIR = BUILD / "engine"

GEMMLOWP_INCLUDE = Path("/usr/include/gemmlowp")
HOST_LIBRARY = "host_library.cc"  # the C API of the host library; not part of the firmware
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti"]
# Host library builds: -O3 (after -O2, so it wins), position independent, one arena per thread
# (TR_ARENA_STORAGE in model.cc.j2).
HOST_FLAGS = [*CXX_FLAGS, "-O3", "-fPIC", "-pthread", "-DTR_ARENA_STORAGE=thread_local"]
ISA_VARIABLE = "TINYROBUST_ENGINE_ISA"
ISA_FLAGS = {
    "avx512": ["-march=x86-64-v4", "-mavx512vnni", "-DTR_X86_KERNELS"],
    "avx2": ["-march=x86-64-v3", "-DTR_X86_KERNELS"],
    "portable": [],
}
# The /proc/cpuinfo flags each x86 variant needs (x86-64-v4 and v3 levels, plus VNNI).
ISA_NEEDS = {
    "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_vnni", "avx2"},
    "avx2": {"avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"},
}
ARM_CPUS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"],
}


def engine_sources() -> list[Path]:
    """The engine's kernel sources (the host library's C API excluded)."""
    return sorted(p for p in ENGINE_DIR.glob("*.cc") if p.name != HOST_LIBRARY)


def _toolchain_hash() -> str:
    """A hash of everything that shapes a build besides the model: engine, templates, compiler."""
    digest = hashlib.sha256()
    files = sorted(ENGINE_DIR.glob("*")) + sorted(TEMPLATES_DIR.glob("*"))
    files += sorted(Path(__file__).parent.rglob("*.py"))  # the compiler and its ops/
    files.append(Path(tflite.__file__))  # the reader
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build_dir(tflite_path: Path, workdir: str | os.PathLike | None) -> Path:
    model_hash = hashlib.sha256(tflite_path.read_bytes()).hexdigest()[:16]
    base = Path(workdir) if workdir else BUILD_DIR
    return base / f"{model_hash}-{_toolchain_hash()}"


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"{what} failed: {result.stderr.strip()[:2000]}")


def _cpu_flags() -> set[str]:
    """The x86 CPU's feature flags (/proc/cpuinfo); empty elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine().lower() not in ("x86_64", "amd64") or not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_isas() -> list[str]:
    """The host library variants this CPU runs, fastest first ("portable" always last)."""
    flags = _cpu_flags()
    return [isa for isa, needed in ISA_NEEDS.items() if needed <= flags] + ["portable"]


def chosen_isa(isa: str | None = None) -> str:
    """``isa``, else ``$TINYROBUST_ENGINE_ISA``, else the fastest this CPU runs (UserError if it
    lacks the one asked for)."""
    wanted = isa or os.environ.get(ISA_VARIABLE) or None
    available = cpu_isas()
    if wanted is None:
        return available[0]
    if wanted not in ISA_FLAGS:
        raise UserError(f"unknown engine ISA {wanted!r}; known: {', '.join(ISA_FLAGS)}")
    if wanted not in available:
        runs = ", ".join(available)
        raise UserError(f"this CPU cannot run the {wanted} engine (it runs: {runs})")
    return wanted


def _isa_flags(isa: str) -> list[str]:
    flags = list(ISA_FLAGS[isa])
    if isa == "avx2" and "avx_vnni" in _cpu_flags():
        flags.append("-mavxvnni")
    return flags


def _library_sources(isa: str) -> list[Path]:
    sources = engine_sources() + [ENGINE_DIR / HOST_LIBRARY]
    if isa != "portable":
        sources += sorted((ENGINE_DIR / "x86").glob("*.cc"))
    return sources


def _objects(sources: list[Path], directory: Path, flags: list[str]) -> list[Path]:
    """Compile each source to DIR/<name>.o unless it is there (two at a time)."""
    directory.mkdir(parents=True, exist_ok=True)

    def build(source: Path) -> Path:
        obj = directory / f"{source.stem}.o"
        if not obj.is_file():
            tmp = directory / f"{source.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
            command = ["g++", *flags, f"-I{ENGINE_DIR}", f"-isystem{GEMMLOWP_INCLUDE}"]
            _run([*command, "-c", str(source), "-o", str(tmp)], f"host build of {source.name}")
            tmp.replace(obj)
        return obj

    with ThreadPoolExecutor(min(len(sources), os.cpu_count() or 1)) as pool:
        return list(pool.map(build, sources))


def host_library_key(isa: str) -> str:
    """A hash of what shapes a host library besides the model: engine, x86 kernels, flags."""
    digest = hashlib.sha256(_toolchain_hash().encode())
    digest.update(" ".join([*HOST_FLAGS, *_isa_flags(isa)]).encode())
    for path in [*_library_sources(isa), *sorted((ENGINE_DIR / "x86").glob("*.h"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def host_library(tflite_path: str | os.PathLike, isa: str | None = None) -> Path:
    """Build (or reuse) a shared library of model + engine + the C API of ``host_library.cc``.

    ``isa`` is "avx512", "avx2" or "portable" (default: ``chosen_isa``). The engine's objects are
    cached per ISA under build/engine/objects-<ISA>-<hash>/ (the hash covers the engine, its x86
    kernels, the templates, the compiler and the flags), the model's under
    build/engine/<model hash>-<engine hash>/.
    """
    isa = chosen_isa(isa)
    flags = [*HOST_FLAGS, *_isa_flags(isa)]
    key = host_library_key(isa)
    path = Path(tflite_path)
    directory = _build_dir(path, None)
    library = directory / f"libmodel-{isa}-{key}.so"
    if library.is_file():
        return library
    if not (directory / "model.cc").is_file():  # written whole: other processes may build too
        directory.mkdir(parents=True, exist_ok=True)
        tmp_source = directory / f"model.{os.getpid()}.cc.tmp"
        tmp_source.write_text(compile_model(path).source)
        tmp_source.replace(directory / "model.cc")
    engine = _objects(_library_sources(isa), BUILD_DIR / f"objects-{isa}-{key}", flags)
    model = _objects([directory / "model.cc"], directory / f"objects-{isa}-{key}", flags)
    tmp = directory / f"{library.name}.{os.getpid()}.tmp"
    _run(["g++", "-shared", *flags, *map(str, engine + model), "-o", str(tmp)], "host link")
    tmp.replace(library)
    return library


def arm_size(
    tflite_path: str | os.PathLike,
    cpu: str = "cortex-m4",
    workdir: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Cross-compile model + engine for a Cortex-M (-O2, -Werror) and measure them.

    Returns text, data and bss bytes summed over the objects (``arm-none-eabi-size``), plus
    flash (text + data) and ram (data + bss; the arena is in bss). Stack is not included.
    """
    if cpu not in ARM_CPUS:
        raise UserError(f"unknown cpu {cpu!r}; known: {', '.join(ARM_CPUS)}")
    path = Path(tflite_path)
    directory = _build_dir(path, workdir) / cpu
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "model.cc").is_file():
        generate(path, directory)
    objects = []
    for source in [*engine_sources(), directory / "model.cc"]:
        obj = directory / (source.stem + ".o")
        if not obj.is_file():
            command = ["arm-none-eabi-g++", *CXX_FLAGS, *ARM_CPUS[cpu], "-ffunction-sections"]
            command += ["-fdata-sections", f"-I{ENGINE_DIR}", f"-isystem{GEMMLOWP_INCLUDE}"]
            command += ["-c", str(source), "-o", str(obj)]
            _run(command, f"{cpu} build of {source.name}")
        objects.append(str(obj))
    result = subprocess.run(
        ["arm-none-eabi-size", "-t", *objects], capture_output=True, text=True, check=True
    )
    total = result.stdout.strip().splitlines()[-1].split()
    text, data, bss = (int(v) for v in total[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}
