"""Clean accuracy per backend and agreement between integer backends.

    python -m host.evaluate --model mlperf-resnet8 --backends tflm-int8,litert-ref-int8 --n 297

Prints accuracy per backend and, for every pair of integer backends of the same precision, the
share of identical raw outputs, the largest difference in integer steps and the top-1 agreement.
``--agreement-ops`` also cuts the graph after each op to find where two host backends diverge.
Everything is written as JSON into a timestamped run folder under ``runs/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from host import agreement, backends, campaign, data, zoo
from host.board.qemu import read_state, running_board
from host.campaign import add_attack_arguments
from host.errors import UserError, cli_main
from host.tflite import input_type, read_model_bytes
from host.versions import package_versions

DEFAULT_MODEL = "cifar10-resnet8"
CHUNK = 64
EVAL_SPLITS = {"cifar10": "test", "vww": "eval", "coffee": "test", "kws": "eval"}
NO_BOARD = "no board running: start one with `make flash`; evaluating on host backends only"


class Target:
    """What is evaluated: a zoo model, or an arbitrary .tflite file with a named data set."""

    def __init__(self, args: argparse.Namespace) -> None:
        if args.tflite:
            if not args.dataset:
                raise UserError("--tflite needs --dataset (one of: " + ", ".join(data.SPLITS) + ")")
            if args.dataset not in data.SPLITS:
                raise UserError(
                    f"unknown data set {args.dataset!r}; known: {', '.join(data.SPLITS)}"
                )
            self.path = Path(args.tflite)
            content = read_model_bytes(self.path)
            self.precision = input_type(content)
            if self.precision not in backends.INTEGER_PRECISIONS:
                raise UserError(f"{self.path} has {self.precision} input; expected int8 or int16")
            self.label = self.path.stem
            self.model = None
            self.dataset = args.dataset
            self.split = args.split or EVAL_SPLITS[args.dataset]
            self.input_range = args.input_range
        else:
            entry = zoo.spec(args.model)
            self.model = self.label = entry.name
            self.dataset, self.split = entry.dataset, args.split or entry.eval_split
            self.input_range = entry.input_range

    def default_backends(self) -> list[str]:
        if self.model:
            return backends.available_backends(self.model)
        return [f"{kind}-{self.precision}" for kind in backends.HOST_KINDS]

    def file(self, precision: str) -> Path:
        if self.model:
            return zoo.model_file(self.model, precision)
        if precision != self.precision:
            raise UserError(f"{self.path} is a {self.precision} model: no {precision} backend")
        return self.path

    def backend(self, name: str) -> backends.Backend:
        _, precision = backends.parse_name(name)
        return backends.backend_for_file(name, self.file(precision), self.input_range)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m host.evaluate", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model",
        help=f"zoo model name (default: the running board's model, else {DEFAULT_MODEL})",
    )
    source.add_argument("--tflite", help="an arbitrary int8/int16 .tflite file (needs --dataset)")
    parser.add_argument("--dataset", help="data set for --tflite (cifar10, vww, coffee, kws)")
    parser.add_argument("--split", help="data split (default: the model's evaluation split)")
    parser.add_argument("--input-range", type=float, default=1.0, help="--tflite: pixels * this")
    parser.add_argument("--backends", help="comma-separated backend names (default: all host ones)")
    parser.add_argument("--n", type=int, help="number of examples (default: the whole split)")
    parser.add_argument(
        "--seed",
        type=int,
        help="draw the n examples at random with this seed; with --attacks: the attacks' seed "
        "(default 0) on the first n examples",
    )
    parser.add_argument("--data-dir", help="offline data directory (default: $TINYROBUST_DATA_DIR)")
    parser.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    parser.add_argument(
        "--agreement-ops", action="store_true", help="localise divergences op by op"
    )
    add_attack_arguments(parser, seed=False)
    args = parser.parse_args(argv)
    if args.model is None and args.tflite is None:
        args.model = _board_model() or DEFAULT_MODEL
    return args


def _board_model() -> str | None:
    """The model the running emulated board was built for, if one runs."""
    state = read_state()
    return state.model if state else None


def choose_backends(target: Target, requested: str | None) -> tuple[list[str], set[str]]:
    """The requested backend names (checked), or the host ones plus a running board.

    Also returns the names added on the off chance (the board): skipped when they cannot load.
    """
    if requested:
        names = [name.strip() for name in requested.split(",") if name.strip()]
        if not names:
            raise UserError("--backends is empty")
        for name in names:
            backends.parse_name(name)
        return list(dict.fromkeys(names)), set()
    names = target.default_backends()
    board = running_board()
    if board is not None and target.model:
        names.append("device-int8")
        print(f"board found: {board}; adding device-int8")
        return names, {"device-int8"}
    print(NO_BOARD)
    return names, set()


def select_examples(dataset: data.Dataset, n: int | None, seed: int | None) -> np.ndarray:
    """Indices of the examples to evaluate: the first n, or n drawn with ``seed``."""
    total = len(dataset)
    n = total if n is None else min(n, total)
    if seed is None:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def run_backend(backend: backends.Backend, x: np.ndarray) -> np.ndarray:
    """Raw outputs for all examples, in chunks, with a progress bar."""
    raw_input = x.dtype != np.uint8  # kws: already the model's integer features
    if raw_input and np.dtype(backend.input_dtype) != x.dtype:
        raise UserError(f"{backend.name} takes {np.dtype(backend.input_dtype)}, data is {x.dtype}")
    outputs = []
    for start in tqdm(range(0, len(x), CHUNK), desc=backend.name, unit="chunk", leave=False):
        chunk = x[start : start + CHUNK]
        if raw_input:
            outputs.append(backend.predict_raw(chunk))
        else:
            outputs.append(backend.predict(chunk.astype(np.float32) / np.float32(255.0)))
    return np.concatenate(outputs)


def check_shape(backend: backends.Backend, x: np.ndarray, dataset: str) -> None:
    if tuple(backend.input_shape) != tuple(x.shape[1:]):
        raise UserError(
            f"{backend.name} takes inputs of shape {tuple(backend.input_shape)}, data set "
            f"{dataset} has {tuple(x.shape[1:])}"
        )


def localise_pairs(target: Target, loaded: dict[str, backends.Backend], x: np.ndarray) -> list:
    """Per-op agreement for each pair of host integer backends of the same precision."""
    precisions = {name: backend.precision for name, backend in loaded.items()}
    results = []
    for a, b in agreement.integer_pairs(loaded, precisions):
        (kind_a, precision), (kind_b, _) = backends.parse_name(a), backends.parse_name(b)
        if kind_a not in backends.HOST_KINDS or kind_b not in backends.HOST_KINDS:
            continue
        content = read_model_bytes(target.file(precision))
        q = x if x.dtype != np.uint8 else loaded[a].quantize(x.astype(np.float32) / 255.0)
        rows = agreement.localize(
            content,
            q,
            backends.host_backend_for_bytes(kind_a),
            backends.host_backend_for_bytes(kind_b),
            precision,
            target.input_range,
            progress=lambda ops, label=f"{a} vs {b} per op": tqdm(ops, desc=label, leave=False),
        )
        first_op = agreement.first_divergence(rows)
        print_op_table(a, b, rows, first_op)
        explained = {}
        if first_op is not None and first_op.op_name == "FULLY_CONNECTED":
            explained = explain_fc(content, first_op.op_index, q, {a: kind_a, b: kind_b}, target)
        results.append(
            {
                "a": a,
                "b": b,
                "ops": [row.as_dict() for row in rows],
                "first_divergence": first_op.as_dict() if first_op else None,
                "fully_connected_rules": explained,
            }
        )
    return results


def print_op_table(
    a: str, b: str, rows: list[agreement.OpAgreement], first_op: agreement.OpAgreement | None
) -> None:
    print(f"\nper-op agreement {a} vs {b} (graph cut after each op):")
    print(f"  {'op':>3}  {'name':<24} {'identical':>10}  max diff")
    for row in rows:
        print(
            f"  {row.op_index:>3}  {row.op_name:<24} {row.identical_pct:>9.2f}%  "
            f"{row.max_diff_steps}"
        )
    if first_op is None:
        print("  no divergence: identical after every op")
    else:
        print(f"  first divergence: op {first_op.op_index} {first_op.op_name}")


def explain_fc(
    content: bytes, op_index: int, q: np.ndarray, kinds: dict[str, str], target: Target
) -> dict[str, dict[str, float]]:
    """Which requantization rules reproduce each backend's FULLY_CONNECTED output."""
    factories = {name: backends.host_backend_for_bytes(kind) for name, kind in kinds.items()}
    _, precision = backends.parse_name(next(iter(kinds)))
    try:
        table = agreement.explain_fully_connected(
            content, op_index, q, factories, precision, target.input_range
        )
    except ValueError as error:
        print(f"  (FULLY_CONNECTED requantization not modelled: {error})")
        return {}
    for name in kinds:
        rules = [rule for rule, match in table.items() if match[name] == 100.0]
        print(
            f"  {name} FULLY_CONNECTED is reproduced by: {'; '.join(rules) or 'no modelled rule'}"
        )
    return table


def write_run(out: Path, label: str, results: dict) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out / f"{stamp}-{label}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = out / f"{stamp}-{label}-{suffix}"
    folder.mkdir(parents=True)
    path = folder / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    return path


def evaluate_attacks(args: argparse.Namespace) -> int:
    """``--attacks``: run an attack campaign (host.campaign) instead of a clean evaluation."""
    if args.model is None:
        raise UserError("--attacks needs --model (a zoo model), not --tflite")
    if args.backends:
        names = list(dict.fromkeys(n.strip() for n in args.backends.split(",") if n.strip()))
    else:
        names = campaign.default_backends(args.model)
    if args.seed is None:
        args.seed = 0
    out = Path(args.out) / f"campaign-{args.model}-{args.mode}"
    run = campaign.campaign_from_args(args, args.model, names, args.n, out, args.data_dir)
    campaign.run_campaign(run)
    return 0


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.n is not None and args.n <= 0:
        raise UserError(f"--n must be positive, got {args.n}")
    if args.attacks:
        return evaluate_attacks(args)
    if args.eps or args.eps_steps:
        raise UserError("--eps and --eps-steps need --attacks")
    target = Target(args)
    names, optional = choose_backends(target, args.backends)
    dataset = data.load(target.dataset, target.split, args.data_dir)
    indices = select_examples(dataset, args.n, args.seed)
    x, y = dataset.x[indices], dataset.y[indices]

    loaded = {}
    for name in names:
        try:
            loaded[name] = target.backend(name)
        except UserError as error:
            if name not in optional:
                raise
            print(f"skipping {name}: {error}")
            continue
        check_shape(loaded[name], x, target.dataset)
    raw, seconds = {}, {}
    for name, backend in loaded.items():
        start = time.perf_counter()
        raw[name] = run_backend(backend, x)
        seconds[name] = time.perf_counter() - start
    predictions = {name: output.reshape(len(x), -1).argmax(axis=1) for name, output in raw.items()}
    accuracy = {name: 100.0 * float(np.mean(pred == y)) for name, pred in predictions.items()}
    precisions = {name: backend.precision for name, backend in loaded.items()}
    agreements = agreement.pairwise(raw, precisions)

    print(f"\n{target.label} on {target.dataset}/{target.split}, n={len(x)}")
    print(f"  {'backend':<18} {'kernels':<34} {'accuracy':>9}")
    for name, backend in loaded.items():
        correct = int(np.sum(predictions[name] == y))
        print(f"  {name:<18} {backend.kernels:<34} {accuracy[name]:>8.2f}%  ({correct}/{len(x)})")
    if agreements:
        print("\nagreement (raw outputs):")
    for pair in agreements:
        print(
            f"  {pair.a} vs {pair.b}: {pair.identical_pct:.2f}% identical, max diff "
            f"{pair.max_diff_steps} steps, top-1 agreement {pair.top1_agree_pct:.2f}% "
            f"({pair.top1_flips} flips)"
        )
    per_op = localise_pairs(target, loaded, x) if args.agreement_ops else []

    files = {}
    for precision in sorted(set(precisions.values())):
        path = target.file(precision)
        files[precision] = {"path": str(path), "sha256": data.sha256_file(path)}
    results = {
        "command": [
            sys.executable,
            "-m",
            "host.evaluate",
            *(sys.argv[1:] if argv is None else argv),
        ],
        "model": target.label,
        "zoo_model": target.model,
        "dataset": {"name": target.dataset, "split": target.split, "source": dataset.source},
        "n": len(x),
        "seed": args.seed,
        "indices": indices.tolist(),
        "labels": y.tolist(),
        "input_range": target.input_range,
        "model_files": files,
        "backends": {
            name: {
                "precision": backend.precision,
                "kernels": backend.kernels,
                "input_scale": float(backend.input_scale),
                "input_zero_point": int(backend.input_zero_point),
                "output_scale": float(backend.output_scale),
                "output_zero_point": int(backend.output_zero_point),
                "accuracy_pct": accuracy[name],
                "seconds": seconds[name],
                "predictions": predictions[name].tolist(),
                "raw_outputs": raw[name].tolist(),
            }
            for name, backend in loaded.items()
        },
        "agreement": [pair.as_dict() for pair in agreements],
        "agreement_ops": per_op,
        "versions": package_versions(),
    }
    path = write_run(Path(args.out), target.label, results)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
