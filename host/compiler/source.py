"""From a .tflite file to C++ source: read and prepare the graph, plan memory, emit."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from host.compiler.emit import render
from host.compiler.graph import load_graph
from host.compiler.plan import plan_memory
from host.errors import UserError


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


def compile_model(tflite_path: str | os.PathLike, name: str | None = None) -> CompiledModel:
    """Compile one .tflite file into C++ source (raises UserError on anything unsupported)."""
    path = Path(tflite_path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    data = path.read_bytes()
    graph = load_graph(data, str(path))
    plan = plan_memory(graph)
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


def generate(tflite_path: str | os.PathLike, out_dir: str | os.PathLike) -> CompiledModel:
    """Write DIR/model.cc for a model and return what was compiled."""
    compiled = compile_model(tflite_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.cc").write_text(compiled.source)
    return compiled
