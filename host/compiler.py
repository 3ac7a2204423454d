"""Ahead-of-time compiler: a .tflite model in, C++ source for the firmware engine out.

``python -m host.compiler MODEL.tflite --out DIR`` writes ``DIR/model.cc`` (weights as const
data, the op sequence with precomputed multipliers, shifts and activation ranges, a static
memory plan) and prints a summary. An op, type or option the engine does not support stops it
with one line naming the op, its index and the reason.

Also here: ``compile_for_host`` (an x86 executable that runs the model on raw inputs, used by
the exactness tests) and ``arm_size`` (flash and RAM of model + engine for Cortex-M4/M7).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.compiler_graph import load_graph
from host.compiler_plan import plan_memory
from host.errors import UserError, cli_main

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINE_DIR = REPO_ROOT / "firmware" / "engine"
TEMPLATES_DIR = REPO_ROOT / "firmware" / "templates"
BUILD_DIR = REPO_ROOT / "build" / "engine"
GEMMLOWP_INCLUDE = Path("/usr/include/gemmlowp")
HOST_RUNNER = "host_runner.cc"
CXX_FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti"]
ARM_CPUS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"],
}


@dataclass
class CompiledModel:
    """The generated source and what it needs: arena size, weight bytes, op names."""

    name: str
    source: str
    arena_bytes: int
    weight_bytes: int
    ops: list[str]
    input_bytes: int
    output_bytes: int
    sha256: str
    extra: dict = field(default_factory=dict)


def engine_sources() -> list[Path]:
    """The engine's kernel sources (the host runner excluded)."""
    return sorted(p for p in ENGINE_DIR.glob("*.cc") if p.name != HOST_RUNNER)


def compile_model(tflite_path: str | os.PathLike, name: str | None = None) -> CompiledModel:
    """Compile one .tflite file into C++ source (raises UserError on anything unsupported)."""
    path = Path(tflite_path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    data = path.read_bytes()
    graph = load_graph(data)
    plan = plan_memory(graph)
    from host.compiler_emit import render

    source, weight_bytes = render(graph, plan, name or path.stem, hashlib.sha256(data).digest())
    return CompiledModel(
        name=name or path.stem,
        source=source,
        arena_bytes=plan.arena_bytes,
        weight_bytes=weight_bytes,
        ops=[op.name for op in graph.ops],
        input_bytes=graph.tensors[graph.input].nbytes,
        output_bytes=graph.tensors[graph.output].nbytes,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _toolchain_hash() -> str:
    """A hash of everything that shapes a build besides the model: engine, templates, compiler."""
    digest = hashlib.sha256()
    files = sorted(ENGINE_DIR.glob("*")) + sorted(TEMPLATES_DIR.glob("*"))
    files += sorted(Path(__file__).parent.glob("compiler*.py"))
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


def generate(tflite_path: str | os.PathLike, out_dir: str | os.PathLike) -> CompiledModel:
    """Write DIR/model.cc for a model and return what was compiled."""
    compiled = compile_model(tflite_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.cc").write_text(compiled.source)
    return compiled


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host.compiler", description=__doc__)
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--out", required=True, help="directory for model.cc")
    parser.add_argument("--size", action="store_true", help="also report Cortex-M4/M7 sizes")
    args = parser.parse_args(argv)
    compiled = generate(args.model, args.out)
    print(
        f"{compiled.name}: {len(compiled.ops)} ops ({', '.join(sorted(set(compiled.ops)))}), "
        f"arena {compiled.arena_bytes} bytes, weights {compiled.weight_bytes} bytes -> "
        f"{Path(args.out) / 'model.cc'}"
    )
    if args.size:
        with tempfile.TemporaryDirectory() as tmp:
            for cpu in ARM_CPUS:
                size = arm_size(args.model, cpu, tmp)
                print(f"{cpu}: flash {size['flash']} bytes, ram {size['ram']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main)())
