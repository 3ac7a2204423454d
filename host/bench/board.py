"""Benchmark section ``board``: throughput of the emulated board, and where its compute goes.

For each model, on a fresh emulated board, four ways of moving N real inputs, interleaved over
the repeats (medians): transfer (the same bytes as ECHO frames, no inference), compute (one
staged batch run again and again: no transfer), one request at a time (upload, infer, answer),
and pipelined (the next batch goes up while the board computes). The efficiency is
max(transfer, compute) / pipelined. Instructions per inference and the per-op table come from the
firmware's counters (QEMU ``-icount shift=0``: instructions, not cycles) on an inference with no
transfer going on (the receive interrupt's instructions are not in it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from host import data, zoo
from host.backends.base import quantize_input
from host.bench.section import Section
from host.board import firmware, protocol
from host.board.client import Device
from host.board.qemu import Emulator
from host.cli import integer
from host.compiler.graph import Graph, load_graph
from host.errors import UserError

NAME = "board"
DEFAULT_MODELS = ("mlperf-resnet8", "cifar10-resnet8", "mlperf-vww", "mlperf-kws")
WAYS = ("transfer", "compute", "one_at_a_time", "pipelined")
# Instructions per Invoke() of the real TFLite Micro on QEMU mps2-an386 (Cortex-M4F, GCC 12.2,
# -icount shift=0): reference kernels and CMSIS-NN kernels. Measured once with TFLite Micro's C++
# source, which cannot be built here (docs/engine.md); the ratios compare this run's counts to them.
TFLM_INSTRUCTIONS = {
    "mlperf-resnet8": {"reference": 107.3e6, "cmsis_nn": 29.9e6},
    "mlperf-vww": {"reference": 100.2e6, "cmsis_nn": 24.1e6},
    "mlperf-kws": {"reference": 43.0e6, "cmsis_nn": 7.7e6},
}


@dataclass
class BenchResult:
    model: str
    board: str
    images: int
    repeats: int
    seconds: dict[str, float]  # median seconds for the N images, per way of WAYS
    instructions: float  # per inference, no transfer going on
    unit: str
    ops: list[dict]  # per op of that inference: index, name, count, share, macs, per_mac
    identical: bool  # pipelined outputs == one-at-a-time outputs

    def per_image(self, way: str) -> float:
        return self.seconds[way] / self.images

    def efficiency(self, way: str) -> float:
        """max(transfer, compute) / the time of ``way``: 1.0 is the bound."""
        return max(self.seconds["transfer"], self.seconds["compute"]) / self.seconds[way]

    def as_dict(self) -> dict:
        """The measurements and what follows from them, for bench.json."""
        derived = {f"{way}_s_per_image": self.per_image(way) for way in WAYS}
        derived["efficiency_one_at_a_time"] = self.efficiency("one_at_a_time")
        derived["efficiency_pipelined"] = self.efficiency("pipelined")
        derived["images_per_s"] = self.images / self.seconds["pipelined"]
        for kernels, count in TFLM_INSTRUCTIONS.get(self.model, {}).items():
            derived[f"x_tflm_{kernels}"] = self.instructions / count
        return {**asdict(self), **derived}


def op_macs(graph: Graph) -> list[int]:
    """Multiply-accumulates of each op (0 for ops without weights): output elements times the
    weights of one output channel (conv [out_c][k_h][k_w][in_c], depthwise [k_h][k_w][out_c],
    fully connected [units][depth])."""
    macs = []
    for op in graph.ops:
        weights = op.arrays.get("filter")
        channels = op.params.get("out_c", op.params.get("units", 0))
        if weights is None or not channels:
            macs.append(0)
            continue
        macs.append(graph.tensors[op.output].size * (weights.size // channels))
    return macs


def op_rows(model: str, stats: protocol.OpStats) -> list[dict]:
    """The per-op table of one model: op index, name, count, share of the sum, count per MAC."""
    graph = load_graph(zoo.model_file(model, "int8").read_bytes(), model)
    total = max(1, sum(stats.counts))
    rows = []
    for op, count, macs in zip(graph.ops, stats.counts, op_macs(graph), strict=False):
        per_mac = count / macs if macs else None
        rows.append(
            {
                "index": op.index,
                "op": op.name,
                "count": count,
                "share": count / total,
                "macs": macs,
                "per_mac": per_mac,
            }
        )
    return rows


def raw_inputs(
    model: str, hello: protocol.Hello, n: int, data_dir: str | None = None
) -> np.ndarray:
    """N real inputs of the model's data set, quantized as the device expects."""
    entry = zoo.spec(model)
    x = data.load(entry.dataset, entry.eval_split, data_dir).x[:n]
    if x.dtype == hello.input.dtype:
        return x.reshape((len(x), *hello.input.shape[1:]))
    x01 = x.astype(np.float32) / np.float32(255.0)
    return quantize_input(
        x01, entry.input_range, hello.input.scale, hello.input.zero_point, hello.input.dtype
    )


def _ways(dev: Device, q: np.ndarray) -> dict[str, Callable[[], float]]:
    """The four ways of moving ``q`` (whole batches of max_batch), each a function that returns
    the seconds it took."""
    step = min(len(q), dev.info.max_batch)
    batches = [q[start : start + step] for start in range(0, len(q), step)]

    def transfer() -> float:
        began = time.monotonic()
        for batch in batches:
            dev.echo(protocol.infer_payload(batch))
        return time.monotonic() - began

    def compute() -> float:
        staged = dev.stage(batches[0])  # on the board before the clock starts
        began = time.monotonic()
        for _ in batches:
            dev.infer_staged(staged, step)
        return time.monotonic() - began

    def infer(pipelined: bool) -> Callable[[], float]:
        def run() -> float:
            dev.pipelined = pipelined
            began = time.monotonic()
            dev.infer(q)
            return time.monotonic() - began

        return run

    return {
        "transfer": transfer,
        "compute": compute,
        "one_at_a_time": infer(False),
        "pipelined": infer(True),
    }


def bench_model(
    model: str, board_name: str, n: int, repeats: int, data_dir: str | None = None
) -> BenchResult:
    """Run one model on a fresh emulated board: the four ways interleaved, then the counters."""
    image = firmware.build(model, board_name)
    if image.board.qemu_machine is None:
        raise UserError(f"{board_name} is a real board; the benchmark runs on emulated boards")
    with Emulator(image.board.qemu_machine, image.elf) as emu, Device(emu.url) as dev:
        if not dev.pipelined:
            raise UserError(f"the firmware on {board_name} does not receive while it computes")
        batch = min(n, dev.info.max_batch)
        q = raw_inputs(model, dev.info, n - n % batch, data_dir)  # whole batches
        outputs = {mode: dev.infer(q) for mode in (False, True)}  # warm up: batch, chunk, timing
        ways = _ways(dev, q)
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for repeat in range(repeats):
            for i in range(len(WAYS)):  # each repeat starts with another way
                way = WAYS[(i + repeat) % len(WAYS)]
                times[way].append(ways[way]())
        identical = all(
            np.array_equal(a.output, b.output) for a, b in zip(*outputs.values(), strict=True)
        )
        dev.pipelined = False
        (result,) = dev.infer(q[:1])  # no transfer during it: the counters see compute only
        ops = op_rows(model, dev.op_stats())
        seconds = {way: statistics.median(values) for way, values in times.items()}
        name = zoo.spec(model).name  # a model folder's name, not its path
        unit = dev.info.counter_unit
        return BenchResult(
            name, image.board.name, len(q), repeats, seconds, result.count, unit, ops, identical
        )


def table(results: list[BenchResult]) -> list[str]:
    lines = [
        f"{'model':<16} {'n':>3} {'s/img: transfer':>16} {'compute':>8} {'one at a time':>14} "
        f"{'pipelined':>10} {'efficiency: before':>19} {'after':>6} {'M per inference':>16} "
        f"{'x TFLM ref':>10} {'x CMSIS-NN':>10}"
    ]
    for r in results:
        lines.append(
            f"{r.model:<16} {r.images:>3} {r.per_image('transfer'):>16.3f} "
            f"{r.per_image('compute'):>8.3f} {r.per_image('one_at_a_time'):>14.3f} "
            f"{r.per_image('pipelined'):>10.3f} {r.efficiency('one_at_a_time'):>19.0%} "
            f"{r.efficiency('pipelined'):>6.0%} {r.instructions / 1e6:>10.2f} {r.unit[:5]} "
            f"{_ratio(r, 'reference'):>10} {_ratio(r, 'cmsis_nn'):>10}"
        )
    lines.append("efficiency = max(transfer, compute) / time; medians, ways interleaved")
    lines.append("x TFLM: this engine's instructions / TFLite Micro's on QEMU (docs/engine.md)")
    for r in results:
        lines += ["", f"{r.model}: {r.unit} per op (one inference)"]
        lines.append(f"{'op':>3} {'name':<20} {'count':>10} {'share':>6} {'per MAC':>8}")
        for op in r.ops:
            per_mac = "-" if op["per_mac"] is None else f"{op['per_mac']:.2f}"
            lines.append(
                f"{op['index']:>3} {op['op']:<20} {op['count']:>10} {op['share']:>6.1%} "
                f"{per_mac:>8}"
            )
    return lines


def _ratio(result: BenchResult, kernels: str) -> str:
    reference = TFLM_INSTRUCTIONS.get(result.model, {}).get(kernels)
    return "-" if reference is None else f"{result.instructions / reference:.2f}x"


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("board section")
    group.add_argument("--board", default="qemu-an386", help="emulated board")
    group.add_argument("-n", type=integer(1), default=24, help="inputs per model (default 24)")
    group.add_argument(
        "--board-repeats", type=integer(1), default=3, help="repeats of each way (default 3)"
    )


def check(args: argparse.Namespace) -> None:
    """Bad options, before any work."""
    if firmware.board(args.board).qemu_machine is None:
        raise UserError(f"bench runs on emulated boards; {args.board} is a real board")


def measure(args: argparse.Namespace) -> Section:
    results = []
    for model in args.models or DEFAULT_MODELS:
        try:
            zoo.model_file(model, "int8")
        except UserError as error:
            if args.models:
                raise
            print(f"skipped {model}: {error}", file=sys.stderr)
            continue
        results.append(bench_model(model, args.board, args.n, args.board_repeats, args.data_dir))
    return Section(NAME, table(results), [r.as_dict() for r in results])
