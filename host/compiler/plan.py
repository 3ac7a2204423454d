"""Static memory plan: every activation tensor gets an offset in one arena, reused over time.

The graph input is read from the caller's input buffer and the graph output is written into the
caller's output buffer, so neither takes arena space. A tensor lives from the op that writes it
to the last op that reads it; two tensors share bytes only if their lives do not overlap.

Strategy: several greedy placements are computed and the smallest arena is kept. Each places
the tensors one by one in some order (largest first, first use, longest life, size x life) at
the lowest free offset or in the tightest free gap, with RESHAPE outputs sharing their input's
storage or not. One candidate is TFLite Micro's own plan (its GreedyMemoryPlanner: input and
output in the arena, largest first, ties by higher tensor index, lowest free offset) with the
input and output then taken out, so the arena is never larger than TFLite Micro's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from host.compiler.graph import Graph

ALIGNMENT = 16
INPUT = "input"
OUTPUT = "output"


@dataclass
class Plan:
    arena_bytes: int
    location: dict[int, int | str]  # tensor index -> arena offset, INPUT or OUTPUT


@dataclass(frozen=True)
class Buffer:
    """One block to place: a tensor (or RESHAPE-aliased tensors), its bytes and op range."""

    key: int  # tensor index (the first tensor of an alias group)
    size: int  # bytes, aligned
    first: int  # position of the first op using it
    last: int  # position of the last op using it


Order = Callable[[Buffer], tuple]
ORDERS: list[Order] = [
    lambda b: (-b.size, b.first),
    lambda b: (b.first, -b.size),
    lambda b: (b.first - b.last, -b.size),
    lambda b: (-b.size * (b.last - b.first + 1), b.first),
]


def plan_memory(graph: Graph) -> Plan:
    """Assign each activation tensor an arena offset (or the caller's input/output buffer)."""
    tensors = sorted({t for op in graph.ops for t in [*op.inputs, op.output]})
    # On a tie the first candidate wins: RESHAPE aliases (no copy), largest first.
    candidates: list[Plan] = []
    for group in (_alias_groups(graph), {t: t for t in tensors}):
        external: dict[int, int | str] = {group.get(graph.input, graph.input): INPUT}
        external[group.get(graph.output, graph.output)] = OUTPUT
        buffers = [b for b in _buffers(graph, group) if b.key not in external]
        for order in ORDERS:
            for best_fit in (False, True):
                location: dict[int, int | str] = {**_place(sorted(buffers, key=order), best_fit)}
                location.update(external)
                candidates.append(_plan({t: location[group[t]] for t in tensors}, buffers))
    candidates.append(_tflm_plan(graph, tensors))
    return min(candidates, key=lambda plan: plan.arena_bytes)


def _tflm_plan(graph: Graph, tensors: list[int]) -> Plan:
    """TFLite Micro's greedy plan (input and output included), then input and output moved to
    the caller's buffers: no larger than TFLite Micro's own arena."""
    buffers = _buffers(graph, {t: t for t in tensors})
    end = len(graph.ops)
    lifetimes = {graph.input: (-1, None), graph.output: (None, end)}  # TFLM: whole invocation
    full = []
    for b in buffers:
        first, last = lifetimes.get(b.key, (None, None))
        full.append(Buffer(b.key, b.size, b.first if first is None else first, last or b.last))
    location: dict[int, int | str] = dict(_place(sorted(full, key=lambda b: (-b.size, -b.key))))
    location[graph.input] = INPUT
    location[graph.output] = OUTPUT
    inside = [b for b in buffers if b.key not in (graph.input, graph.output)]
    return _plan(location, inside)


def _alias_groups(graph: Graph) -> dict[int, int]:
    """Tensor -> the tensor whose storage it shares (RESHAPE-like ops, not into the output)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t

    for op in graph.ops:
        if op.alias and op.output != graph.output:
            root[find(op.output)] = find(op.inputs[0])
    return {t: find(t) for op in graph.ops for t in [*op.inputs, op.output]}


def _buffers(graph: Graph, group: dict[int, int]) -> list[Buffer]:
    """One buffer per group: the largest member's aligned size, the union of their lives."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    for position, op in enumerate(graph.ops):
        for t in [*op.inputs, op.output]:
            key = group[t]
            first.setdefault(key, position)
            last[key] = position
            size[key] = max(size.get(key, 0), _align(graph.tensors[t].nbytes))
    return [Buffer(key, size[key], first[key], last[key]) for key in sorted(size)]


def _place(buffers: list[Buffer], best_fit: bool = False) -> dict[int, int]:
    """Offsets for buffers placed in this order: the lowest free offset, or the smallest free
    gap that fits (``best_fit``), among the buffers placed so far that live at the same time."""
    placed: list[tuple[int, int, Buffer]] = []  # offset, end, buffer
    offsets: dict[int, int] = {}
    for buffer in buffers:
        busy = sorted(
            (start, end)
            for start, end, other in placed
            if other.first <= buffer.last and buffer.first <= other.last
        )
        gaps: list[tuple[int, int]] = []  # (gap size, offset); the last one is unbounded
        offset = 0
        for start, end in busy:
            if start - offset >= buffer.size:
                gaps.append((start - offset, offset))
                if not best_fit:
                    break
            offset = max(offset, end)
        chosen = min(gaps)[1] if best_fit and gaps else gaps[0][1] if gaps else offset
        placed.append((chosen, chosen + buffer.size, buffer))
        offsets[buffer.key] = chosen
    return offsets


def _plan(location: dict[int, int | str], buffers: list[Buffer]) -> Plan:
    """A plan whose arena holds ``buffers`` at their offsets in ``location``."""
    arena = max((int(location[b.key]) + b.size for b in buffers), default=0)
    return Plan(_align(arena), location)


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
