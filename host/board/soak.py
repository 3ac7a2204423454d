"""The soak: many inferences over a broken link, every answer checked against TFLite Micro.

``python -m host.board.soak --model mlperf-kws --faults flip=1e-3 --n 10000`` builds the firmware,
starts it in QEMU, streams N test inputs of the model's data set (repeated when N is larger than
the split) through a ``FaultyTransport`` and checks that every input is answered, that every
answer equals the tflite-micro wheel's output for that input, and that the board computed each
input once. A clean run of the same inputs first gives the time to compare with. ``--grid`` runs
every fault kind at 1e-4, 1e-3 and 1e-2 per byte in each direction, plus truncation, delay and
board resets. One table row per run; ``--json F`` keeps them all.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host import cli, data, zoo
from host.backends.tflm import TflmBackend
from host.board import firmware, qemu
from host.board.client import Device, one_line, open_transport
from host.board.faults import BYTE_FAULTS, FaultSpec, FaultyTransport
from host.errors import CommandParser, LinkError, UserError

BLOCK = 64  # inputs per infer() call: a block that fails for good is counted lost, not the run
MAX_DISTINCT = 1000  # distinct inputs at most (their references are computed once each)
GRID_RATES = (1e-4, 1e-3, 1e-2)
GRID_DIRECTIONS = ("to-device", "to-host")


@dataclass(frozen=True)
class Workload:
    """N raw inputs as indices into the distinct ones, and TFLite Micro's output for each."""

    model: str
    inputs: np.ndarray  # distinct raw integer inputs
    expected: np.ndarray  # TFLite Micro's raw outputs, one flat row per distinct input
    order: np.ndarray  # the input index streamed at each step, N of them


def workload(model: str, n: int, data_dir: str | None = None) -> Workload:
    """The model's first test inputs (up to MAX_DISTINCT), repeated to N, with references."""
    entry = zoo.spec(model)
    split = data.load(entry.dataset, entry.eval_split, data_dir)
    reference = TflmBackend(zoo.model_file(model, "int8"), "int8", entry.input_range)
    x = split.x[: min(n, len(split), MAX_DISTINCT)]
    if x.dtype != reference.input_dtype:  # images (uint8 pixels); kws features are int8 already
        x = reference.quantize(x.astype(np.float32) / np.float32(255.0))
    expected = reference.invoke(x).reshape(len(x), -1)
    return Workload(model, x, expected, np.arange(n) % len(x))


@dataclass
class SoakRun:
    """What one run saw; ``duplicated`` (the board's inference counter beyond one per input) is
    None when it cannot be known: an input was lost, or a board reset cleared the counter."""

    faults: str
    inferences: int
    answered: int
    exact: int
    lost: int
    wrong: int
    duplicated: int | None  # inferences the board ran beyond one per input
    seconds: float
    overhead: float | None = None  # seconds / the clean run's seconds
    injected: dict[str, int] = dataclasses.field(default_factory=dict)
    client: dict[str, int] = dataclasses.field(default_factory=dict)
    error: str = ""  # the last link error of a lost block

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.wrong == 0 and not self.duplicated

    def row(self) -> str:
        overhead = f"{self.overhead:.2f}x" if self.overhead is not None else "-"
        duplicated = "-" if self.duplicated is None else str(self.duplicated)
        injected = " ".join(f"{k}:{v}" for k, v in sorted(self.injected.items()))
        return (
            f"{self.inferences:>6} {self.exact:>6} {self.lost:>5} {duplicated:>5} "
            f"{self.wrong:>5} {self.seconds:>8.1f} {overhead:>8}  {self.faults}"
            + (f" ({injected})" if injected else "")
            + (f"; last error: {self.error}" if self.error else "")
        )


HEADER = (
    f"{'n':>6} {'exact':>6} {'lost':>5} {'dup':>5} {'wrong':>5} {'seconds':>8} {'overhead':>8}"
    "  faults (injected)"
)


def soak(url: str, work: Workload, spec: FaultSpec | None) -> SoakRun:
    """Stream the workload to the board at ``url`` over a link broken as ``spec`` says."""
    port = open_transport(url)
    transport = FaultyTransport(port, spec) if spec is not None else port
    n = len(work.order)
    answers = np.zeros(n, bool)
    exact = np.zeros(n, bool)
    error = ""
    began = time.monotonic()
    try:
        device = Device(url, transport=transport)
    except UserError as failure:  # not even HELLO got through
        return SoakRun(str(spec), n, 0, 0, n, 0, None, time.monotonic() - began, error=str(failure))
    with device:
        before = _inferences(device)
        boots = device.stats.resets_seen  # the boot HELLO of a fresh emulator may be one
        for start in range(0, n, BLOCK):
            index = work.order[start : start + BLOCK]
            try:
                results = device.infer(work.inputs[index])
            except LinkError as failure:
                error = one_line(failure)
                continue
            got = np.stack([r.output.reshape(-1) for r in results])
            answers[start : start + len(index)] = True
            exact[start : start + len(index)] = np.all(got == work.expected[index], axis=1)
        seconds = time.monotonic() - began
        after = _inferences(device)
        stats = dataclasses.asdict(device.stats)
    injected = dict(transport.injected) if isinstance(transport, FaultyTransport) else {}
    resets = injected.get("reset", 0) + stats["resets_seen"] - boots
    duplicated = None  # known when every input was answered and the counter was never reset
    if answers.all() and not resets and before is not None and after is not None:
        duplicated = after - before - n
    return SoakRun(
        faults=str(spec) if spec is not None else "clean",
        inferences=n,
        answered=int(answers.sum()),
        exact=int(exact.sum()),
        lost=int(n - answers.sum()),
        wrong=int(answers.sum() - exact.sum()),
        duplicated=duplicated,
        seconds=seconds,
        injected={k: v for k, v in injected.items() if v},
        client={k: v for k, v in stats.items() if isinstance(v, int)},
        error=error,
    )


def _inferences(device: Device) -> int | None:
    """The board's inference counter, or None when the link would not give it."""
    try:
        return device.device_stats()["inferences"]
    except LinkError:
        return None


def grid(seed: int = 0) -> list[FaultSpec]:
    """Every fault kind at every grid rate in each direction, then truncation, delay, resets."""
    specs = [
        FaultSpec(**{fault: rate}, direction=direction, seed=seed)
        for fault in BYTE_FAULTS
        for rate in GRID_RATES
        for direction in GRID_DIRECTIONS
    ]
    specs += [
        FaultSpec(truncate=rate, direction=direction, seed=seed)
        for rate in (1e-2, 1e-1)
        for direction in GRID_DIRECTIONS
    ]
    specs += [FaultSpec(delay=0.02, direction=d, seed=seed) for d in GRID_DIRECTIONS]
    specs += [FaultSpec(reset=rate, seed=seed) for rate in (2e-2, 1e-1)]
    return specs


def emulated_board(name: str) -> firmware.Board:
    """The board called ``name``, which must be an emulated one."""
    entry = firmware.board(name)
    if entry.qemu_machine is None:
        raise UserError(f"board {name} is not emulated; the soak runs on a qemu-* board")
    return entry


def run(
    model: str,
    specs: list[FaultSpec],
    n: int,
    board: str = "qemu-an386",
    clean: bool = True,
    data_dir: str | None = None,
) -> Iterator[SoakRun]:
    """The clean run (when ``clean``), then one run per spec, each as soon as it is done."""
    entry = emulated_board(board)
    work = workload(model, n, data_dir)
    image = firmware.build(model, entry.name)
    assert entry.qemu_machine is not None  # emulated_board() checked it
    with qemu.Emulator(entry.qemu_machine, image.elf) as emu:
        baseline = None
        if clean:
            baseline = soak(emu.url, work, None)
            yield baseline
        for spec in specs:
            result = soak(emu.url, work, spec)
            if baseline is not None:
                result.overhead = result.seconds / baseline.seconds
            yield result


@cli.command
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="python -m host.board.soak",
        description="Stream N inferences over a fault-injected link to an emulated board and "
        "check every answer against TFLite Micro. Exit 1 when an input was lost, computed "
        "twice or answered wrong.",
    )
    parser.add_argument("--model", default="mlperf-kws", help="zoo model name or model folder")
    parser.add_argument("--board", default="qemu-an386", help="an emulated board (qemu-*)")
    parser.add_argument("--n", type=cli.integer(1), default=1000, help="inferences per run")
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument("--faults", default="", help="e.g. flip=1e-3,drop=1e-4,direction=to-host")
    runs.add_argument("--grid", action="store_true", help="every fault kind, rate, direction")
    parser.add_argument("--seed", type=cli.integer(0), default=0, help="the grid's fault seed")
    parser.add_argument("--json", type=Path, default=None, help="write every run to this file")
    parser.add_argument("--data-dir", default=None, help="offline data sets (docs/data.md)")
    args = parser.parse_args(argv)
    emulated_board(args.board)
    specs = grid(args.seed) if args.grid else [FaultSpec.parse(args.faults)] if args.faults else []
    if args.json is not None:
        cli.writable_folder(args.json.parent, "--json")
    results: list[SoakRun] = []
    for result in run(args.model, specs, args.n, args.board, data_dir=args.data_dir):
        if not results:
            print(HEADER)
        results.append(result)
        print(result.row(), flush=True)
    if args.json is not None:
        rows = [dataclasses.asdict(r) for r in results]
        args.json.write_text(json.dumps({"model": args.model, "board": args.board, "runs": rows}))
        print(f"written to {args.json}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
