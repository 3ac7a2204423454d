"""The main job: clean accuracy on every backend and an adversarial campaign, board included.

    python -m host.evaluate                                  # campaigns/quick.toml
    python -m host.evaluate --campaign campaigns/paper.toml  # the seed paper's whole grid
    python -m host.evaluate --model mlperf-resnet8 --backends tflm-int8,litert-ref-int8 --n 297

With no option it runs ``campaigns/quick.toml`` on the running board's model (else
cifar10-resnet8): clean accuracy on every backend, PGD crafted on float at eps around the int8
step and evaluated on float, int16, int8 and the board, a Square attack with the board itself as
the oracle, and the board against TFLite Micro on every adversarial input. ``--campaign FILE``
runs another campaign file (``--model``, ``--n``, ``--seed`` override its own); every run gets a
folder ``runs/<UTC time>-<name>/`` (``--resume RUN_DIR`` continues one) with the HTML report.
``--attacks`` runs a campaign given by options (as ``python -m host.campaign``). ``--clean``,
``--backends``, ``--tflite``, ``--sample-seed`` or ``--agreement-ops`` evaluate clean accuracy
only: accuracy per backend and, for every pair of integer backends of one precision, the share
of identical raw outputs (``--agreement-ops``: op by op). A backend name takes pre-processing
defenses after '+' (``--backends engine-int8+median2``; ``--oracle float+median2`` attacks through
the defense, BPDA: ``host.defenses``). ``--boards qemu-an386x2`` runs a campaign's device
backends on several boards at once (docs/distributed.md). The work is done by ``host.api``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from host import api, campaign, cli
from host.backends.device import DEVICE_ENV
from host.board.qemu import read_state, running_board
from host.errors import CommandParser, UserError
from host.paths import REPO_ROOT
from host.report import evaluation_text
from host.report.html import write_report
from host.run import folder as run_folder
from host.run.evaluation import Target
from host.run.spec import load_campaign

DEFAULT_MODEL = "cifar10-resnet8"
NO_BOARD = "no board running: start one with `make flash`; evaluating on host backends only"
QUICK = REPO_ROOT / "campaigns" / "quick.toml"
PAPER = Path("campaigns") / "paper.toml"
CLEAN_ONLY = ("clean", "backends", "tflite", "sample_seed", "agreement_ops", "split")
ATTACK_ONLY = ("eps", "eps_steps", "norm", "param", "mode", "oracle", "queries")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CommandParser(prog="python -m host.evaluate", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model",
        help=f"zoo model name (default: the running board's model, else {DEFAULT_MODEL})",
    )
    source.add_argument(
        "--tflite",
        help="an int8/int16 .tflite file, integer or float32 input and output (needs --dataset)",
    )
    parser.add_argument(
        "--campaign", help=f"campaign file to run (default: {QUICK.relative_to(REPO_ROOT)})"
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run in its folder")
    parser.add_argument("--clean", action="store_true", help="clean accuracy only, no attacks")
    parser.add_argument("--dataset", help="data set for --tflite (cifar10, vww, coffee, kws)")
    parser.add_argument("--split", help="data split (default: the model's evaluation split)")
    parser.add_argument(
        "--input-range", type=cli.positive_number, default=1.0, help="--tflite: pixels * this"
    )
    cli.add_run_arguments(parser, "folder for run folders (default: runs)", out_default="runs")
    parser.add_argument(
        "--sample-seed",
        type=cli.integer(0),
        help="draw the --n examples at random with this seed (default: the first n; "
        "not with --attacks, which always takes the first n)",
    )
    parser.add_argument(
        "--agreement-ops", action="store_true", help="localise divergences op by op"
    )
    cli.add_attack_arguments(parser)
    cli.add_cluster_arguments(parser)
    parser.set_defaults(seed=None)  # a campaign file's own seed unless --seed is given
    args = parser.parse_args(argv)
    args.boards = cli.board_specs(args.boards)
    args.clean_only = any(getattr(args, name) for name in CLEAN_ONLY)
    if args.clean_only and not args.attacks:
        for name in ("boards", "workers", "ray_address"):
            if getattr(args, name):
                raise UserError(
                    f"{cli.option(name)} runs campaigns (--campaign, --attacks); "
                    "not a clean evaluation"
                )
    if args.clean_only and not args.attacks and (args.campaign or args.resume):
        raise UserError("--campaign and --resume run a campaign; drop the clean-only options")
    if args.attacks and args.campaign:
        raise UserError("--attacks runs a campaign from options: not with --campaign")
    if not args.attacks:
        for name in ATTACK_ONLY:
            if getattr(args, name) not in (None, [], "transfer"):
                raise UserError(f"{cli.option(name)} needs --attacks")
    if args.campaign is None and not args.clean_only and not args.attacks:
        args.campaign = str(QUICK)
        args.model = args.model or _board_model()  # the main job runs on the board's model
    if args.attacks or args.clean_only:
        args.seed = 0 if args.seed is None else args.seed
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
    board = os.environ.get(DEVICE_ENV) or running_board()
    if board is not None and target.model:
        names.append("device-int8")
        print(f"board found: {board}; adding device-int8")
        return names, {"device-int8"}
    print(NO_BOARD)
    return names, set()


def evaluate_attacks(args: argparse.Namespace, argv: list[str] | None) -> int:
    """``--attacks``: run an attack campaign (host.campaign) instead of a clean evaluation, in
    a new run folder under ``--out`` or in ``--resume RUN_DIR``."""
    if args.model is None:  # --tflite: the user's file, declared a model (host.zoo)
        args.model = Target.from_file(args.tflite, args.dataset, args.split, args.input_range).model
    if args.sample_seed is not None:
        raise UserError("--sample-seed is for clean evaluation; --attacks takes the first --n")
    if args.resume:
        run_folder.resume_folder(args.resume)
    campaign.run(args, args.resume, _command(argv), "--resume", Path(args.out))
    return 0


def evaluate_campaign_file(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The main job: a campaign file into a run folder, then its summary and HTML report."""
    spec = load_campaign(args.campaign)
    if args.resume:
        run_folder.resume_folder(args.resume)
    else:
        cli.writable_folder(args.out)
    if not args.boards and not running_board() and not os.environ.get(DEVICE_ENV):
        boards = [name for name in spec.backends if name.startswith("device-")]
        if boards:
            print(NO_BOARD)
            spec = replace(spec, backends=tuple(b for b in spec.backends if b not in boards))
    command = _command(argv)
    with cli.resumable(command, "--resume"):
        job = api.run_file(
            spec,
            models=[args.model] if args.model else None,
            n=args.n,
            seed=args.seed,
            out=args.out,
            resume=args.resume,
            data_dir=args.data_dir,
            command=command,
            progress=True,
            inform=print,
            boards=args.boards,
            workers=args.workers,
            ray_address=args.ray_address,
        )
    print(f"\n{job.folder / 'summary.md'}:\n")
    print((job.folder / "summary.md").read_text())
    print(f"run folder: {job.folder} ({job.seconds / 60:.1f} min)")
    print(f"report: {write_report(job.folder)}")
    if Path(args.campaign).resolve() == QUICK:
        print(f"full set: python -m host.evaluate --campaign {PAPER}")
    return 0


def _command(argv: list[str] | None) -> list[str]:
    return [sys.executable, "-m", "host.evaluate", *(sys.argv[1:] if argv is None else argv)]


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.attacks:
        return evaluate_attacks(args, argv)
    if args.campaign:
        return evaluate_campaign_file(args, argv)
    if args.tflite:
        target = Target.from_file(args.tflite, args.dataset, args.split, args.input_range)
    else:
        target = Target.from_zoo(args.model, args.split)
    cli.writable_folder(args.out)
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
        out=args.out,
        command=_command(argv),
    )
    for name, reason in result.skipped.items():
        print(f"note: skipping {name}: {reason}", file=sys.stderr)
    print(evaluation_text(result))
    print(f"\nresults written to {result.path}")
    if result.path is not None:
        print(f"report: {write_report(result.path.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
