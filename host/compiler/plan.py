"""Static memory plan: every activation tensor gets an offset in one arena, reused over time.

The graph input is read from the caller's input buffer and the graph output is written into the
caller's output buffer, so neither takes arena space. RESHAPE outputs share their input's
storage. Placement is greedy, largest tensor first, at the lowest offset free during its life.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.compiler.graph import Graph

ALIGNMENT = 16
INPUT = "input"
OUTPUT = "output"


@dataclass
class Plan:
    arena_bytes: int
    location: dict[int, int | str]  # tensor index -> arena offset, INPUT or OUTPUT


def plan_memory(graph: Graph) -> Plan:
    """Assign each activation tensor an arena offset (or the caller's input/output buffer)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t

    for op in graph.ops:
        if op.alias and op.output != graph.output:
            root[find(op.output)] = find(op.inputs[0])

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    for position, op in enumerate(graph.ops):
        for t in [*op.inputs, op.output]:
            group = find(t)
            first[group] = min(first.get(group, position), position)
            last[group] = max(last.get(group, position), position)
            size[group] = max(size.get(group, 0), graph.tensors[t].nbytes)

    location: dict[int, int | str] = {}
    placed: list[tuple[int, int, int, int]] = []  # offset, end, first, last
    external = {find(graph.input): INPUT, find(graph.output): OUTPUT}
    for group in sorted(size, key=lambda g: (-size[g], first[g])):
        if group in external:
            location[group] = external[group]
            continue
        offset = 0
        for start, end, a, b in sorted(placed):
            if b < first[group] or a > last[group]:
                continue  # not alive at the same time
            if start - offset >= size[group]:
                break
            offset = max(offset, _align(end))
        placed.append((offset, offset + size[group], first[group], last[group]))
        location[group] = offset
    arena = max((end for _, end, _, _ in placed), default=0)
    tensors = {t for op in graph.ops for t in [*op.inputs, op.output]}
    return Plan(_align(arena), {t: location[find(t)] for t in tensors})


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
