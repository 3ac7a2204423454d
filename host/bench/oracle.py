"""Benchmark section ``oracle``: the engine on the host against the tflite-micro wheel.

For each model: the same real + random inputs through the wheel (``tflm``, as evaluations use it)
and through the engine (``engine``, every ISA variant this CPU runs, one thread and all cores),
``CHUNK`` examples per call as evaluations send them. Interleaved chunk by chunk (wheel, engine
variants, wheel, ...), so that every backend sees the same load; figures are medians over the
repeats, and every engine output of every repeat is compared with the wheel's (mismatches: 0).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from host import compiler, data, zoo
from host.backends import CHUNK
from host.backends.base import Backend
from host.backends.engine import EngineBackend
from host.backends.tflm import TflmBackend
from host.bench.section import Section
from host.cli import integer
from host.errors import UserError

NAME = "oracle"
DEFAULT_CASES = (
    ("cifar10-resnet8", "int8"),
    ("cifar10-resnet8", "int16"),
    ("mlperf-resnet8", "int8"),
    ("mlperf-resnet8", "int16"),
    ("mlperf-kws", "int8"),
    ("mlperf-vww", "int8"),
)


@dataclass
class Timing:
    model: str
    precision: str
    backend: str  # "tflm (wheel)" or "engine <isa>"
    threads: int
    images: int
    images_per_s: float  # median over the repeats (wall clock)
    ratio: float  # images_per_s over the wheel's
    cpu_images_per_s: float  # per CPU-second of the process, all threads (median): what the
    cpu_ratio: float  # load of other processes changes least; over the wheel's
    mismatches: int  # examples whose outputs differ from the wheel's in any repeat


def inputs(model: str, backend: Backend, n: int, data_dir: str | None) -> np.ndarray:
    """The model's raw inputs: the first ceil(n/2) real examples, then random integers."""
    entry = zoo.spec(model)
    x = data.load(entry.dataset, entry.eval_split, data_dir).x[: (n + 1) // 2]
    real = x if x.dtype == backend.input_dtype else backend.quantize(x / np.float32(255.0))
    info = np.iinfo(backend.input_dtype)
    shape = (n - len(real), *backend.input_shape)
    rng = np.random.default_rng(0)
    noise = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=backend.input_dtype)
    return np.concatenate([real.reshape(-1, *backend.input_shape), noise])


def bench_model(
    model: str, precision: str, isas: list[str], args: argparse.Namespace
) -> list[Timing]:
    """Interleaved repeats of the wheel and every engine variant on the same inputs."""
    entry = zoo.spec(model)
    path = zoo.model_file(model, precision)
    wheel = TflmBackend(path, precision, entry.input_range)
    runners: list[tuple[str, Backend]] = [("tflm (wheel)", wheel)]
    for isa in isas:
        for threads in sorted({1, os.cpu_count() or 1}):
            engine = EngineBackend(path, precision, entry.input_range, isa, threads)
            runners.append((f"engine {isa}", engine))
    q = inputs(model, wheel, args.oracle_n, args.data_dir)
    for _, backend in runners[1:]:
        backend.invoke(q[:4])  # warm up: threads and their arenas
    seconds = np.zeros((len(runners), args.oracle_repeats))
    cpu_seconds = np.zeros_like(seconds)
    mismatched = np.zeros((len(runners), len(q)), dtype=bool)
    for repeat in range(args.oracle_repeats):
        for start in range(0, len(q), CHUNK):  # chunk by chunk: every backend sees the same load
            chunk = slice(start, start + CHUNK)
            outputs = []
            for index, (_, backend) in enumerate(runners):
                began, began_cpu = time.perf_counter(), time.process_time()
                outputs.append(backend.invoke(q[chunk]))
                seconds[index, repeat] += time.perf_counter() - began
                cpu_seconds[index, repeat] += time.process_time() - began_cpu
            for index, out in enumerate(outputs):
                different = (out != outputs[0]).reshape(len(out), -1).any(axis=1)
                mismatched[index, chunk] |= different
    rates = [len(q) / float(np.median(s)) for s in seconds]
    cpu_rates = [len(q) / float(np.median(s)) for s in cpu_seconds]
    return [
        Timing(
            zoo.spec(model).name,
            precision,
            label,
            getattr(backend, "threads", 1),
            len(q),
            rate,
            rate / rates[0],
            cpu_rate,
            cpu_rate / cpu_rates[0],
            int(miss.sum()),
        )
        for (label, backend), rate, cpu_rate, miss in zip(
            runners, rates, cpu_rates, mismatched, strict=True
        )
    ]


def table(timings: list[Timing]) -> list[str]:
    lines = [
        f"{'model':<16} {'prec':<5} {'n':>5} {'backend':<15} {'threads':>7} {'img/s':>9} "
        f"{'x wheel':>8} {'img/cpu-s':>9} {'x wheel':>8} {'mismatches':>10}"
    ]
    for t in timings:
        lines.append(
            f"{t.model:<16} {t.precision:<5} {t.images:>5} {t.backend:<15} {t.threads:>7} "
            f"{t.images_per_s:>9.1f} {t.ratio:>8.2f} {t.cpu_images_per_s:>9.1f} "
            f"{t.cpu_ratio:>8.2f} {t.mismatches:>10}"
        )
    return lines


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("oracle section")
    group.add_argument(
        "--oracle-n",
        type=integer(2),
        default=200,
        help="inputs per model, half real, half random (default 200)",
    )
    group.add_argument(
        "--oracle-repeats", type=integer(1), default=3, help="interleaved repeats (default 3)"
    )
    group.add_argument(
        "--oracle-isas",
        default=None,
        help="comma-separated engine ISA variants (default: every one this CPU runs)",
    )
    group.add_argument(
        "--oracle-precisions",
        default="int8,int16",
        help="precisions of the models given with --models (default int8,int16)",
    )


def _isas(args: argparse.Namespace) -> list[str]:
    if args.oracle_isas is None:
        return compiler.cpu_isas()
    return [compiler.chosen_isa(isa.strip()) for isa in args.oracle_isas.split(",")]


def check(args: argparse.Namespace) -> None:
    """Bad options, before any work."""
    _isas(args)
    for precision in args.oracle_precisions.split(","):
        if precision not in ("int8", "int16"):
            raise UserError(f"--oracle-precisions: {precision!r} is not int8 or int16")


def _cases(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(model, precision) pairs: the defaults, or those of ``--models`` whose file exists."""
    if not args.models:
        return list(DEFAULT_CASES)
    precisions = args.oracle_precisions.split(",")
    return [(m, p) for m in args.models for p in precisions if zoo.has_file(m, p)]


def measure(args: argparse.Namespace) -> Section:
    isas = _isas(args)
    timings: list[Timing] = []
    for model, precision in _cases(args):
        timings += bench_model(model, precision, isas, args)
    return Section(NAME, table(timings), [asdict(t) for t in timings])
