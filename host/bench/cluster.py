"""Benchmark section ``cluster``: what a second board and more Ray workers buy, side by side.

- Boards: one model's firmware on two emulated boards started for the section; the same N test
  images through a pool of the first board alone, the same while another process keeps a core
  busy (a control: on VMs whose idle cores wake slowly, one board alone is slower than it need
  be, which a second board hides), and through the pool of both (``host.backends.pool``),
  interleaved over the repeats (medians). The outputs of the pools are compared (identical).
- Workers: one host-only campaign (PGD and Square crafted on the float model, evaluated on
  float, TFLite Micro int8 and the engine) run in this process, on one local Ray worker and on
  N (``host.run.cluster``); each Ray run's time includes starting Ray and its workers, as a
  user pays it. The record files of the three are compared (they must be identical).

The machine's core count is printed with the ratios: on a machine of C cores, N workers and B
emulated boards share them with TensorFlow's own threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from host import api, data, zoo
from host.backends.pool import BoardPoolBackend
from host.bench.section import Section
from host.board import firmware
from host.board.pool import BoardSpec, PoolMember
from host.cli import integer
from host.errors import UserError
from host.run.spec import load_campaign

NAME = "cluster"
WAYS = ("1 board", "1 board, a busy core", "2 boards")  # the pools timed, interleaved
MODEL = "cifar10-resnet8"
CAMPAIGN = """name = "bench-cluster"
models = ["{model}"]
backends = ["float", "tflm-int8", "engine-int8"]
clean = "campaign"

[sample]
n = {n}

[[attack]]
name = "pgd"
eps = [0.01, 0.03]
params = {{ max_iter = 10 }}

[[attack]]
name = "square-linf"
eps = [0.03]
queries = {queries}
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster section")
    group.add_argument(
        "--cluster-images", type=integer(1), default=48, help="inputs per pool (default 48)"
    )
    group.add_argument(
        "--cluster-repeats", type=integer(1), default=3, help="repeats of each pool (default 3)"
    )
    group.add_argument(
        "--cluster-n",
        type=integer(1),
        default=128,
        help="examples of the crafting campaign (default 128: 2 chunks of 64 per attack)",
    )
    group.add_argument(
        "--cluster-queries",
        type=integer(1),
        default=100,
        help="Square's queries per example in the crafting campaign (default 100)",
    )
    group.add_argument(
        "--cluster-workers",
        type=integer(2),
        default=None,
        help="Ray workers to compare with one (default: the core count, at least 2)",
    )


def check(args: argparse.Namespace) -> None:
    """Bad options, before any work."""
    if args.models and len(args.models) != 1:
        raise UserError("the cluster section runs one model: give one --models")
    if firmware.board(args.board).qemu_machine is None:
        raise UserError(f"bench runs on emulated boards; {args.board} is a real board")


def measure(args: argparse.Namespace) -> Section:
    model = (args.models or [MODEL])[0]
    cores = os.cpu_count() or 1
    workers = args.cluster_workers or max(2, cores)
    boards = bench_boards(model, args.board, args.cluster_images, args.cluster_repeats, args)
    crafting = bench_workers(model, args.cluster_n, args.cluster_queries, workers, args.data_dir)
    results = {"cores": cores, "boards": boards, "workers": crafting}
    return Section(NAME, table(results), results)


def bench_boards(
    model: str, board: str, images: int, repeats: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Seconds for ``images`` inputs through one board and through two (medians over
    interleaved repeats), and whether the two pools answered the same."""
    entry = zoo.spec(model)
    dataset = data.load(entry.dataset, entry.eval_split, args.data_dir)
    x = dataset.x[:images].astype(np.float32) / np.float32(255.0)
    path = zoo.model_file(model, "int8")
    members = [PoolMember(BoardSpec(board=board), model, "int8") for _ in range(2)]
    try:
        pools = {
            count: BoardPoolBackend(members[:count], path, "int8", entry.input_range)
            for count in (1, 2)
        }
        outputs = {count: pool.run(x) for count, pool in pools.items()}  # warm: one whole run
        times: dict[str, list[float]] = {WAYS[0]: [], WAYS[1]: [], WAYS[2]: []}
        for _ in range(repeats):
            for way in WAYS:
                pool = pools[2 if way == WAYS[2] else 1]
                with busy_core() if way == WAYS[1] else contextlib.nullcontext():
                    start = time.perf_counter()
                    outputs[2 if way == WAYS[2] else 1] = pool.run(x)
                    times[way].append(time.perf_counter() - start)
    finally:
        for member in members:
            member.close()
    seconds = {way: statistics.median(values) for way, values in times.items()}
    return {
        "model": model,
        "board": board,
        "images": images,
        "repeats": repeats,
        "seconds": seconds,
        "speedup": seconds[WAYS[0]] / seconds[WAYS[2]],
        "speedup_over_busy": seconds[WAYS[1]] / seconds[WAYS[2]],
        "identical": bool(np.array_equal(outputs[1], outputs[2])),
    }


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """A process spinning on one core meanwhile: a control for one board's time, which on
    some machines (VMs whose idle cores wake slowly) depends on whether the cores are busy."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def bench_workers(
    model: str, n: int, queries: int, workers: int, data_dir: str | None
) -> dict[str, Any]:
    """Seconds of the crafting campaign in this process, on one Ray worker and on
    ``workers``, and whether their records are identical."""
    seconds, records = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "campaign.toml"
        path.write_text(CAMPAIGN.format(model=model, n=n, queries=queries))
        spec = load_campaign(path)
        for label, count in (("1", 1), (str(workers), workers), ("in process", None)):
            start = time.perf_counter()
            job = api.run_file(spec, out=Path(tmp) / label, data_dir=data_dir, workers=count)
            seconds[label] = time.perf_counter() - start
            records[label] = (job.folder / "records.jsonl").read_bytes()
    return {
        "model": model,
        "n": n,
        "cells": len(spec.attacks) * -(-n // 64),
        "workers": workers,
        "seconds": seconds,
        "speedup": seconds["1"] / seconds[str(workers)],
        "identical": len(set(records.values())) == 1,
    }


def table(results: dict[str, Any]) -> list[str]:
    boards, crafting = results["boards"], results["workers"]
    workers = str(crafting["workers"])
    seconds = crafting["seconds"]
    alone, busy, two = (boards["seconds"][way] for way in WAYS)
    return [
        f"machine: {results['cores']} cores",
        f"boards ({boards['model']}, {boards['images']} images on {boards['board']}, median of "
        f"{boards['repeats']}):",
        f"  1 board                          {alone:7.2f} s",
        f"  1 board, another core kept busy  {busy:7.2f} s",
        f"  2 boards                         {two:7.2f} s   speed-up {boards['speedup']:.2f}x "
        f"({boards['speedup_over_busy']:.2f}x over the busy-core control)   "
        f"outputs identical: {'yes' if boards['identical'] else 'NO'}",
        f"crafting ({crafting['model']}, n={crafting['n']}, PGD and Square on float, "
        f"{crafting['cells']} cells; Ray start included):",
        f"  in process        {seconds['in process']:7.1f} s",
        f"  1 Ray worker      {seconds['1']:7.1f} s",
        f"  {workers} Ray workers{' ' * (6 - len(workers))}{seconds[workers]:7.1f} s   "
        f"speed-up over 1 worker {crafting['speedup']:.2f}x   "
        f"records identical: {'yes' if crafting['identical'] else 'NO'}",
    ]
