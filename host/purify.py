"""Train PixelDefend's PixelCNN: ``python -m host.purify --dataset cifar10``.

Seeded, with a progress bar; writes models/purifiers/<dataset>/ (purifier.keras and
training.json: seed, images, epochs, seconds, bits/dim on held-out images), which the ``purify``
defense (``engine-int8+purify``) loads.
"""

from __future__ import annotations

import sys

from host import data as datasets
from host.cli import integer, writable_folder
from host.errors import CommandParser, cli_main

DATASETS = ("cifar10", "coffee")  # host.defenses.purifier.DATASETS, without loading TensorFlow


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m host.purify", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--seed", type=integer(0), default=0, help="seed, >= 0 (default: 0)")
    parser.add_argument("--epochs", type=integer(1), default=1, help="epochs (default: 1)")
    parser.add_argument(
        "--limit", type=integer(1), help="train on the first N (>= 1) training images only"
    )
    parser.add_argument("--out", help="output directory (default models/purifiers/<dataset>)")
    parser.add_argument(
        "--data-dir", help=f"offline data directory (else ${datasets.DATA_DIR_ENV})"
    )
    args = parser.parse_args(argv)
    out = writable_folder(args.out) if args.out else None
    from host.defenses.purifier import train_purifier  # TensorFlow loads only to train

    path = train_purifier(args.dataset, args.seed, args.epochs, args.limit, out, args.data_dir)
    print(f"purifier: {path} (record: {path.parent / 'training.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
