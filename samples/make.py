"""Rebuild the bundled evaluation samples from the full offline data sets.

    python samples/make.py /path/to/data    (the docs/data.md layout)

cifar10-test.npz: the 297 lossless official CIFAR-10 test images, with their test indices.
coffee-test.npz: every 6th image of each class of the seeded BRACOL test split (host.data),
kept as the original JPEG files, with their BRACOL ids and indices.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere: the checkout's host package

from host import data  # noqa: E402

COFFEE_EVERY = 6


def cifar10(root: Path) -> None:
    full = np.load(root / "cifar10/test_lossless.npz")
    np.savez_compressed(
        HERE / "cifar10-test.npz", x=full["x"], y=full["y"], test_index=full["test_index"]
    )


def coffee(root: Path) -> None:
    full = np.load(root / "coffee/bracol_leaf.npz")
    labels = full["y"].astype(np.int64)
    test = data.coffee_split(labels)["test"]
    chosen = np.sort(
        np.concatenate(
            [test[labels[test] == c][::COFFEE_EVERY] for c in range(len(data.COFFEE_CLASSES))]
        )
    )
    offsets = full["offsets"]
    files = [full["jpeg"][offsets[i] : offsets[i + 1]] for i in chosen]
    np.savez_compressed(
        HERE / "coffee-test.npz",
        jpeg=np.concatenate(files),
        offsets=np.concatenate([[0], np.cumsum([len(f) for f in files])]).astype(np.int64),
        y=labels[chosen],
        id=full["id"][chosen],
        index=chosen,
        split_seed=np.int64(data.COFFEE_SPLIT_SEED),
    )


if __name__ == "__main__":
    source = Path(sys.argv[1])
    cifar10(source)
    coffee(source)
