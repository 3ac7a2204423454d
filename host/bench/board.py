"""Benchmark section ``board``: throughput of the emulated board, split into transfer and compute.

For each model: stream N real inputs through the UART (INFER), then send the same bytes again as
ECHO frames (transfer only, no inference). Compute time is the difference. Instructions per
inference come from the firmware's counter (QEMU ``-icount shift=0``: instructions, not cycles).
"""

from __future__ import annotations

import argparse
import sys
import time
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


@dataclass
class BenchResult:
    model: str
    board: str
    images: int
    total_s: float
    transfer_s: float
    instructions: float  # mean per inference
    unit: str
    ops: list[dict]  # per op of the last inference: index, name, count, share, per_mac

    @property
    def compute_s(self) -> float:
        return max(0.0, self.total_s - self.transfer_s)

    def as_dict(self) -> dict:
        """The measurements and what follows from them, for bench.json."""
        per_image = {
            "images_per_s": self.images / self.total_s,
            "transfer_s_per_image": self.transfer_s / self.images,
            "compute_s_per_image": self.compute_s / self.images,
        }
        return {**asdict(self), **per_image}


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


def bench_model(model: str, board_name: str, n: int, data_dir: str | None = None) -> BenchResult:
    """Run one model on a fresh emulated board and time it."""
    image = firmware.build(model, board_name)
    if image.board.qemu_machine is None:
        raise UserError(f"{board_name} is a real board; the benchmark runs on emulated boards")
    with Emulator(image.board.qemu_machine, image.elf) as emu, Device(emu.url) as dev:
        q = raw_inputs(model, dev.info, n, data_dir)
        dev.infer(q[:1])  # warm up: first connection, timeout estimate
        total = transfer = 0.0
        counts = []
        step = dev.info.max_batch
        for start in range(0, len(q), step):  # INFER and ECHO interleaved: same load on both
            chunk = q[start : start + step]
            began = time.monotonic()
            counts += [r.count for r in dev.infer(chunk)]
            total += time.monotonic() - began
            began = time.monotonic()
            dev.echo(protocol.infer_payload(chunk))
            transfer += time.monotonic() - began
        ops = op_rows(model, dev.op_stats())
        mean_count = float(np.mean(counts))
        unit = dev.info.counter_unit
        name = zoo.spec(model).name  # a model folder's name, not its path
        return BenchResult(name, image.board.name, len(q), total, transfer, mean_count, unit, ops)


def table(results: list[BenchResult]) -> list[str]:
    lines = [
        f"{'model':<16} {'board':<15} {'n':>4} {'img/s':>7} {'transfer s/img':>15} "
        f"{'compute s/img':>14} {'M per inference':>16}"
    ]
    for r in results:
        lines.append(
            f"{r.model:<16} {r.board:<15} {r.images:>4} {r.images / r.total_s:>7.2f} "
            f"{r.transfer_s / r.images:>15.3f} {r.compute_s / r.images:>14.3f} "
            f"{r.instructions / 1e6:>10.2f} {r.unit[:5]}"
        )
    for r in results:
        lines += ["", f"{r.model}: {r.unit} per op (last inference)"]
        lines.append(f"{'op':>3} {'name':<20} {'count':>10} {'share':>6} {'per MAC':>8}")
        for op in r.ops:
            per_mac = "-" if op["per_mac"] is None else f"{op['per_mac']:.2f}"
            lines.append(
                f"{op['index']:>3} {op['op']:<20} {op['count']:>10} {op['share']:>6.1%} "
                f"{per_mac:>8}"
            )
    return lines


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("board section")
    group.add_argument("--board", default="qemu-an386", help="emulated board")
    group.add_argument("-n", type=integer(1), default=20, help="inputs per model (default 20)")


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
        results.append(bench_model(model, args.board, args.n, args.data_dir))
    return Section(NAME, table(results), [r.as_dict() for r in results])
