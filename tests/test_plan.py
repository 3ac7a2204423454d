"""The memory planner: valid plans, never larger than TFLite Micro's arena.

Unit cases on small hand-made graphs (sizes and lifetimes only), and the case that lost to
TFLite Micro before several placement orders were tried: a 64x64x1 model with a depthwise block
and a 2-channel bottleneck, where largest-first placement alone needed 73,728 bytes against
TFLite Micro's 68,112.
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import engine_reference as ref
import numpy as np
from test_engine import tflm_arena_bytes

from host import compiler
from host.compiler.graph import Graph
from host.compiler.ops.common import Op
from host.compiler.plan import INPUT, OUTPUT, Plan, plan_memory


def _graph(sizes: list[int], edges: list[list[int]], alias: set[int] = frozenset()) -> Graph:
    """Tensor i has ``sizes[i]`` bytes; op i reads ``edges[i]`` and writes tensor i + 1."""
    tensors = [SimpleNamespace(nbytes=n) for n in sizes]
    ops = [Op(i, "X", "K", None, inputs, i + 1, alias=i in alias) for i, inputs in enumerate(edges)]
    return Graph(tensors, ops, 0, len(edges))  # type: ignore[arg-type]


def _lives(graph: Graph) -> dict[int, tuple[int, int]]:
    """Tensor -> positions of the first and last op using it."""
    live: dict[int, tuple[int, int]] = {}
    for position, op in enumerate(graph.ops):
        for t in [*op.inputs, op.output]:
            live[t] = (live.get(t, (position, position))[0], position)
    return live


def _assert_valid(graph: Graph, plan: Plan) -> None:
    """Tensors alive at the same op never share bytes, and all fit in the arena."""
    live = _lives(graph)
    assert plan.location[graph.input] == INPUT and plan.location[graph.output] == OUTPUT
    blocks = {}
    for t, where in plan.location.items():
        if isinstance(where, int):
            assert where % 16 == 0 and where + graph.tensors[t].nbytes <= plan.arena_bytes
            blocks[t] = (where, where + graph.tensors[t].nbytes)
    for a in blocks:
        for b in blocks:
            shared = blocks[a] == blocks[b] and _aliased(graph, a, b)
            if a < b and not shared and live[a][0] <= live[b][1] and live[b][0] <= live[a][1]:
                assert blocks[a][1] <= blocks[b][0] or blocks[b][1] <= blocks[a][0], (a, b)


def _aliased(graph: Graph, a: int, b: int) -> bool:
    return any(op.alias and {op.inputs[0], op.output} == {a, b} for op in graph.ops)


def test_chain_where_largest_first_loses() -> None:
    """Largest first, ties by first use, puts the 32-byte tensor above two 128-byte ones
    (arena 288); placing the later 128-byte tensor first stacks everything in 160."""
    graph = _graph([48, 128, 128, 32, 128, 32], [[0], [1], [2], [3], [4]])
    plan = plan_memory(graph)
    _assert_valid(graph, plan)
    assert plan.arena_bytes == 256  # tensors 1 and 2 live together at op 1: 2 x 128


def test_alias_shares_storage() -> None:
    """A RESHAPE-like op between two convs: its output lives where its input does."""
    graph = _graph([64, 64, 64, 64, 16], [[0], [1], [2], [3]], alias={1})
    plan = plan_memory(graph)
    _assert_valid(graph, plan)
    assert plan.location[1] == plan.location[2]
    assert plan.arena_bytes == 128


def test_random_graphs_valid_and_tight() -> None:
    """Random chains with skip connections (some RESHAPE-like ops): valid plans; without
    aliases, the arena holds at least the bytes alive at the busiest op."""
    rng = random.Random(3)
    for _ in range(300):
        n = rng.randint(2, 12)
        sizes = [rng.choice([16, 40, 64, 100, 128, 256]) for _ in range(n + 1)]
        edges = [[i] + ([rng.randrange(i)] if i and rng.random() < 0.3 else []) for i in range(n)]
        alias = {i for i in range(1, n - 1) if rng.random() < 0.1 and sizes[i] == sizes[i + 1]}
        graph = _graph(sizes, edges, alias)
        start = time.perf_counter()
        plan = plan_memory(graph)
        assert time.perf_counter() - start < 0.2
        _assert_valid(graph, plan)
        if not alias:
            lives = _lives(graph)
            inside = [t for t in lives if t not in (graph.input, graph.output)]
            peak = max(
                sum(-(-sizes[t] // 16) * 16 for t in inside if lives[t][0] <= p <= lives[t][1])
                for p in range(n)
            )
            assert plan.arena_bytes >= peak


def _bottleneck_model() -> bytes:
    import keras
    from keras import layers

    from host import quantize

    keras.utils.set_random_seed(1)
    inputs = keras.Input((64, 64, 1), batch_size=1)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(2, 1, activation="relu")(x)
    x = layers.Conv2D(8, 1)(x)
    x = layers.MaxPooling2D(8)(x)
    model = keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))
    calibration = np.random.default_rng(0).random((20, 64, 64, 1)).astype(np.float32)
    return quantize.convert(model, calibration, "int8")


def test_depthwise_bottleneck_not_larger_than_tflm() -> None:
    path = ref.cached_conversion("plan-depthwise-bottleneck-int8", _bottleneck_model)
    start = time.perf_counter()
    ours = compiler.compile_model(path).arena_bytes
    assert time.perf_counter() - start < 2.0
    tflm = tflm_arena_bytes(path)
    assert ours <= tflm["total"], (ours, tflm)
    assert ours == 2 * 64 * 64 * 8  # two 64x64x8 maps live together, nothing more
