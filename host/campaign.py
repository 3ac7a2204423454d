"""Attack campaigns: craft adversarial examples, evaluate them on every backend, record, summarise.

    python -m host.campaign --model cifar10-resnet8 --attacks pgd --eps 0.001,0.002 \
        --backends float,tflm-int16,tflm-int8 --n 297

Two modes. ``transfer``: craft on the float model (white-box for gradient attacks, counted
black-box queries for the others) and evaluate the same examples on every backend. ``direct``:
query attacks run against an integer backend itself (``--oracle tflm-int8``, ``device-int8``).
Every (example, attack, eps) becomes one JSON line in ``<out>/records.jsonl``, appended and
flushed at once; a rerun with the same configuration skips what is recorded. The summary
(accuracy per backend per eps, distortion, transfer rates) is built from the records only.
The work is done by ``host.api.run_campaign``.
"""

from __future__ import annotations

import argparse
import sys

from host import api, cli


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m host.campaign", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="zoo model name, e.g. cifar10-resnet8")
    cli.add_run_arguments(
        parser, "run folder (default: runs/campaign-<model>-<mode>)", None, cli.CAMPAIGN_BACKENDS
    )
    cli.add_attack_arguments(parser)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, out: str) -> api.CampaignResult:
    """Run the campaign the options describe, print its summary table."""
    result = api.run_campaign(
        args.model,
        backends=cli.backend_names(args.backends),
        n=args.n,
        data_dir=args.data_dir,
        out=out,
        progress=True,
        **cli.attack_options(args),
    )
    print(f"\n{result.model}, mode {result.mode}, oracle {result.oracle}\n{result.table}")
    print(f"\nrecords: {result.records_file}")
    return result


@cli.command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run(args, args.out or f"runs/campaign-{args.model}-{args.mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
