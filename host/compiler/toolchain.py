"""Building the generated source with real toolchains: the host runner and Cortex-M sizes.

``compile_for_host`` makes an x86 executable that runs a model on raw inputs (the exactness
tests use it); ``arm_size`` cross-compiles model + engine and measures flash and RAM.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from host import tflite
from host.compiler.emit import TEMPLATES_DIR
from host.compiler.source import generate
from host.errors import UserError
from host.paths import BUILD, FIRMWARE

ENGINE_DIR = FIRMWARE / "engine"
BUILD_DIR = BUILD / "engine"

GEMMLOWP_INCLUDE = Path("/usr/include/gemmlowp")
HOST_RUNNER = "host_runner.cc"
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti"]
ARM_CPUS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"],
}


def engine_sources() -> list[Path]:
    """The engine's kernel sources (the host runner excluded)."""
    return sorted(p for p in ENGINE_DIR.glob("*.cc") if p.name != HOST_RUNNER)


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


def compile_for_host(
    tflite_path: str | os.PathLike, workdir: str | os.PathLike | None = None
) -> Path:
    """Build (or reuse) an x86 executable running the model: raw inputs on stdin, outputs on stdout.

    Builds are cached under build/engine/<model hash>-<engine hash>/.
    """
    path = Path(tflite_path)
    directory = _build_dir(path, workdir)
    executable = directory / "model_host"
    if executable.is_file():
        return executable
    directory.mkdir(parents=True, exist_ok=True)
    generate(path, directory)
    sources = [str(p) for p in engine_sources()] + [str(ENGINE_DIR / HOST_RUNNER)]
    tmp = directory / f"model_host.{os.getpid()}.tmp"
    command = ["g++", *CXX_FLAGS, f"-I{ENGINE_DIR}", f"-isystem{GEMMLOWP_INCLUDE}"]
    command += [*sources, str(directory / "model.cc"), "-o", str(tmp)]
    _run(command, "host build")
    tmp.replace(executable)
    return executable


def run_host(
    executable: Path, inputs: np.ndarray, output_dtype: np.dtype, jobs: int = 2
) -> np.ndarray:
    """Run a host build on a batch of raw inputs (N, ...) and return raw outputs (N, -1).

    The batch is split over ``jobs`` processes of the executable.
    """
    batch = np.ascontiguousarray(inputs)

    def run(chunk: np.ndarray) -> np.ndarray:
        result = subprocess.run([str(executable)], input=chunk.tobytes(), capture_output=True)
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace")[:500]
            raise UserError(f"{executable} failed (exit {result.returncode}): {message}")
        return np.frombuffer(result.stdout, dtype=output_dtype).reshape(len(chunk), -1)

    chunks = [c for c in np.array_split(batch, max(1, min(jobs, len(batch)))) if len(c)]
    with ThreadPoolExecutor(len(chunks)) as pool:
        return np.concatenate(list(pool.map(run, chunks)))


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
