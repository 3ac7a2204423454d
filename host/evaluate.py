"""Clean accuracy per backend and agreement between integer backends.

    python -m host.evaluate --model mlperf-resnet8 --backends tflm-int8,litert-ref-int8 --n 297

Prints accuracy per backend and, for every pair of integer backends of the same precision, the
share of identical raw outputs, the largest difference in integer steps and the top-1 agreement.
``--agreement-ops`` also cuts the graph after each op to find where two host backends diverge.
Everything is written as JSON into a timestamped run folder under ``runs/``. With ``--attacks``
it runs an attack campaign instead (as ``python -m host.campaign``). The work is done by
``host.api.evaluate`` and ``host.api.run_campaign``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host import api, campaign, cli
from host.board.qemu import read_state, running_board
from host.errors import UserError
from host.report import evaluation_text
from host.run.evaluation import Target

DEFAULT_MODEL = "cifar10-resnet8"
NO_BOARD = "no board running: start one with `make flash`; evaluating on host backends only"


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
    cli.add_run_arguments(parser, "folder for run folders (default: runs)", out_default="runs")
    parser.add_argument(
        "--sample-seed",
        type=int,
        help="draw the --n examples at random with this seed (default: the first n; "
        "not with --attacks, which always takes the first n)",
    )
    parser.add_argument(
        "--agreement-ops", action="store_true", help="localise divergences op by op"
    )
    cli.add_attack_arguments(parser)
    args = parser.parse_args(argv)
    if args.model is None and args.tflite is None:
        args.model = _board_model() or DEFAULT_MODEL
    return args


def _board_model() -> str | None:
    """The model the running emulated board was built for, if one runs."""
    state = read_state()
    return state.model if state else None


def choose_backends(target: Target, requested: str | None) -> tuple[list[str], set[str]]:
    """The requested backend names (checked), or the default ones plus a running board.

    Also returns the names added on the off chance (the board): skipped when they cannot load.
    """
    names = cli.backend_names(requested)
    if names is not None:
        return names, set()
    names = target.default_backends()
    board = running_board()
    if board is not None and target.model:
        names.append("device-int8")
        print(f"board found: {board}; adding device-int8")
        return names, {"device-int8"}
    print(NO_BOARD)
    return names, set()


def evaluate_attacks(args: argparse.Namespace) -> int:
    """``--attacks``: run an attack campaign (host.campaign) instead of a clean evaluation."""
    if args.model is None:
        raise UserError("--attacks needs --model (a zoo model), not --tflite")
    if args.sample_seed is not None:
        raise UserError("--sample-seed is for clean evaluation; --attacks takes the first --n")
    campaign.run(args, str(Path(args.out) / f"campaign-{args.model}-{args.mode}"))
    return 0


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.attacks:
        return evaluate_attacks(args)
    if args.eps or args.eps_steps:
        raise UserError("--eps and --eps-steps need --attacks")
    if args.tflite:
        target = Target.from_file(args.tflite, args.dataset, args.split, args.input_range)
    else:
        target = Target.from_zoo(args.model, args.split)
    names, optional = choose_backends(target, args.backends)
    result = api.evaluate(
        Path(args.tflite) if args.tflite else args.model,
        names,
        args.n,
        args.data_dir,
        dataset=args.dataset,
        split=args.split,
        input_range=args.input_range,
        sample_seed=args.sample_seed,
        agreement_ops=args.agreement_ops,
        optional_backends=optional,
        progress=True,
    )
    for name, reason in result.skipped.items():
        print(f"skipping {name}: {reason}")
    print(evaluation_text(result))
    result.command = [
        sys.executable,
        "-m",
        "host.evaluate",
        *(sys.argv[1:] if argv is None else argv),
    ]
    path = result.save(Path(args.out))
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
