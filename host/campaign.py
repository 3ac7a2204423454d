"""Attack campaigns: craft adversarial examples, evaluate them on every backend, record, summarise.

    python -m host.campaign --model cifar10-resnet8 --attacks pgd --eps 0.001,0.002 \
        --backends float,engine-int16,engine-int8 --n 297

Two modes. ``transfer``: craft on the float model (white-box for gradient attacks, counted
black-box queries for the others) and evaluate the same examples on every backend. ``direct``:
query attacks run against an integer backend itself (``--oracle engine-int8``, ``device-int8``).
Every run gets its own folder ``runs/<UTC time>-<model>-<mode>/`` (``--out DIR``: that folder,
resumed when it exists). Every (example, attack, eps) becomes one JSON line in its
``records.jsonl``, appended and flushed at once; a rerun into the same folder skips what is
recorded. ``run.json`` records the command, the options, model hashes and versions; the
summary (accuracy per backend per eps, distortion, transfer rates, queries) is built from the
records only. Query attacks without ``--queries`` get a default budget per example (1,000 for
score attacks, 2,000 for decision attacks). ``--boards qemu-an386x2`` runs the device backends
on several boards at once (docs/distributed.md). The work is done by ``host.api.run_campaign``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host import api, cli, zoo
from host.errors import CommandParser
from host.report.html import write_report
from host.run import folder as run_folder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CommandParser(prog="python -m host.campaign", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", required=True, help="zoo model name (e.g. cifar10-resnet8) or model folder"
    )
    cli.add_run_arguments(
        parser,
        "run folder, resumed when it exists (default: a new runs/<UTC time>-<model>-<mode>)",
        None,
        cli.CAMPAIGN_BACKENDS,
    )
    cli.add_attack_arguments(parser)
    cli.add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    args.boards = cli.board_specs(args.boards)
    return args


def run(
    args: argparse.Namespace,
    out: str | None,
    command: list[str],
    resume_option: str = "--out",
    runs: Path = Path("runs"),
) -> api.CampaignResult:
    """Run the campaign the options describe into ``out`` (None: a new run folder under
    ``runs``), print its summary table. Every option is checked before the folder is made.
    ``command`` is what ran; a broken board link says how to continue: ``command`` with
    ``resume_option`` and the folder; ``args.boards`` is the parsed ``--boards``."""
    name = f"{zoo.spec(args.model).name}-{args.mode}"  # a model folder's name, not its path
    options = cli.attack_options(args)
    backends = cli.backend_names(args.backends)
    api.check_campaign(args.model, backends=backends, n=args.n, **options)  # before any work
    folder = (
        cli.writable_folder(out) if out else run_folder.new_folder(cli.writable_folder(runs), name)
    )
    folder.mkdir(parents=True, exist_ok=True)
    manifest = run_folder.Manifest(folder, command, {"model": args.model, "n": args.n, **options})
    with cli.resumable(command, resume_option, folder):
        result = api.run_campaign(
            args.model,
            backends=backends,
            n=args.n,
            data_dir=args.data_dir,
            out=folder,
            progress=True,
            inform=print,
            boards=args.boards,
            workers=args.workers,
            ray_address=args.ray_address,
            **options,
        )
    manifest.add_model(args.model, result.model_files)
    manifest.finish()
    print(f"\n{result.markdown}")
    print(f"\nrun folder: {folder}")
    print(f"report: {write_report(folder)}")
    return result


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run(
        args,
        args.out,
        [sys.executable, "-m", "host.campaign", *(sys.argv[1:] if argv is None else argv)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
