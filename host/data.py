"""Named data sets as uint8 NHWC arrays with integer labels.

Where a split comes from, first found first:
- an offline local directory (``--data-dir`` or ``TINYROBUST_DATA_DIR``) holding the npz layout
  described in docs/data.md (the layout of the project's shared test data);
- the official download (URL, checksum), kept in a cache directory;
- a small real sample bundled with the checkout (``samples/``: CIFAR-10 and coffee test
  images), when neither is there; ``Dataset.source`` says so and a ``TinyRobustWarning`` tells
  the user in one line.

Splits: ``cifar10``: train (50,000, JPEG re-encoded when read offline), test (297 lossless
official test images offline and bundled, 10,000 when downloaded), test-bulk (10,000 JPEG test
images). ``vww``: eval (the 1,000 MLPerf Tiny images; calibration uses a recorded part of it).
``coffee``: train and test, a seeded stratified split of BRACOL classes 0-3, recorded (52 test
images bundled).
``kws``: eval (1,000 MLPerf Tiny int8 MFCC inputs; stored as int8, not uint8).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.errors import TinyRobustWarning, UserError
from host.paths import REPO_ROOT, SAMPLES

DATA_DIR_ENV = "TINYROBUST_DATA_DIR"
CACHE_DIR_ENV = "TINYROBUST_CACHE_DIR"
COFFEE_SPLIT_SEED = 20240408
COFFEE_TEST_FRACTION = 0.2
COFFEE_SIZE = 224


class DownloadError(UserError):
    """An official file that cannot be downloaded here (offline, or no public download)."""


@dataclass(frozen=True)
class Download:
    """An official file: where it lives and its checksum."""

    url: str
    sha256: str | None = None
    md5: str | None = None


# Official sources. CIFAR-10's MD5 is the one published on the dataset page.
DOWNLOADS = {
    "cifar10": Download(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
    ),
}


@dataclass
class Dataset:
    """Images (uint8 NHWC, or int8 features for kws) and labels, with where they came from."""

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    source: str
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, n: int | None) -> Dataset:
        """The first n examples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return Dataset(
            self.name, self.split, self.x[:n], self.y[:n], self.classes, self.source, self.extra
        )


CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
COFFEE_CLASSES = ["healthy", "miner", "rust", "phoma"]
# Bundled evaluation samples (samples/README.md): split -> (file, what it holds).
BUNDLED = {
    ("cifar10", "test"): ("cifar10-test.npz", "official CIFAR-10 test images"),
    ("coffee", "test"): ("coffee-test.npz", "BRACOL test images"),
}
SPLITS = {
    "cifar10": ("train", "test", "test-bulk"),
    "vww": ("eval",),
    "coffee": ("train", "test"),
    "kws": ("eval",),
}


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The offline data directory: the explicit one, else $TINYROBUST_DATA_DIR, else None."""
    chosen = explicit if explicit else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    path = Path(chosen)
    if not path.is_dir():
        raise UserError(f"data directory {path} does not exist")
    return path


def cache_dir() -> Path:
    """Where official downloads are kept (``$TINYROBUST_CACHE_DIR`` or ~/.cache/tinyrobust)."""
    base = os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "tinyrobust"
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(name: str, split: str, data_dir_path: str | os.PathLike | None = None) -> Dataset:
    """Load one split of a named data set: offline directory, else the official download (or
    its cached copy), else the checkout's bundled sample, with a one-line TinyRobustWarning."""
    if name not in SPLITS:
        raise UserError(f"unknown data set {name!r}; known: {', '.join(SPLITS)}")
    if split not in SPLITS[name]:
        raise UserError(f"data set {name} has no split {split!r}; known: {', '.join(SPLITS[name])}")
    root = data_dir(data_dir_path)
    if root is not None:
        return _LOCAL_LOADERS[name](root, split)
    try:
        return _download_loaders(name, split)
    except DownloadError as error:
        if (name, split) not in BUNDLED:
            offline = f"on an offline machine pass --data-dir or set {DATA_DIR_ENV} (docs/data.md)"
            raise DownloadError(f"{error}; {offline}") from error
        dataset = load_sample(name, split)
        warnings.warn(
            f"no {name}/{split} data here or online; using the {len(dataset)} bundled "
            f"{BUNDLED[name, split][1]} ({dataset.source}); the full set: docs/data.md",
            TinyRobustWarning,
            stacklevel=2,
        )
        return dataset


def load_sample(name: str, split: str) -> Dataset:
    """The small evaluation sample of a split bundled with the checkout (samples/)."""
    if (name, split) not in BUNDLED:
        raise UserError(f"no bundled sample of {name}/{split}; bundled: cifar10/test, coffee/test")
    path = SAMPLES / BUNDLED[name, split][0]
    source = str(path.relative_to(REPO_ROOT))
    data = _npz(path.parent, path.name)
    y = data["y"].astype(np.int64)
    if name == "cifar10":
        extra = {"test_index": data["test_index"]}
        return Dataset(name, split, data["x"], y, CIFAR10_CLASSES, source, extra)
    x = decode_jpegs(data["jpeg"], data["offsets"], (COFFEE_SIZE, COFFEE_SIZE))
    split_seed = int(data["split_seed"])
    recorded = {"ids": data["id"], "indices": data["index"], "split_seed": split_seed}
    return Dataset(name, split, x, y, COFFEE_CLASSES, source, recorded)


# ---------------------------------------------------------------- offline directory


def _npz(root: Path, relative: str) -> np.lib.npyio.NpzFile:
    path = root / relative
    if not path.is_file():
        raise UserError(f"missing data file {path} (see docs/data.md for the layout)")
    try:
        return np.load(path)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {error}") from error


def decode_jpegs(
    blob: np.ndarray, offsets: np.ndarray, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode concatenated JPEG files into one uint8 NHWC RGB array (optionally resized)."""
    from PIL import Image

    images = []
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        image = Image.open(io.BytesIO(blob[start:end].tobytes())).convert("RGB")
        if size is not None:
            image = image.resize(size, Image.Resampling.BILINEAR)
        images.append(np.asarray(image, dtype=np.uint8))
    return np.stack(images)


def _cached_decode(key: str, blob_source: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    """Decode once and keep the pixels in the cache, keyed by the source file's size and mtime."""
    stat = blob_source.stat()
    tag = hashlib.sha256(f"{blob_source.resolve()}:{stat.st_size}:{stat.st_mtime}".encode())
    path = cache_dir() / f"{key}-{tag.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    array = make()
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
    return array


def _local_cifar10(root: Path, split: str) -> Dataset:
    if split == "test":
        data = _npz(root, "cifar10/test_lossless.npz")
        extra = {"test_index": data["test_index"]}
        return Dataset(
            "cifar10", split, data["x"], data["y"].astype(np.int64), CIFAR10_CLASSES, "local", extra
        )
    relative = "cifar10/train_jpeg.npz" if split == "train" else "cifar10/test_jpeg.npz"
    data = _npz(root, relative)
    x = _cached_decode(
        f"cifar10-{split}",
        root / relative,
        lambda: decode_jpegs(data["jpeg"], data["offsets"]),
    )
    return Dataset("cifar10", split, x, data["y"].astype(np.int64), CIFAR10_CLASSES, "local (JPEG)")


def _local_vww(root: Path, split: str) -> Dataset:
    data = _npz(root, "vww/vww01_1000.npz")
    return Dataset(
        "vww",
        split,
        data["x"],
        data["y"].astype(np.int64),
        ["no person", "person"],
        "local",
        {"names": data["names"]},
    )


def _local_kws(root: Path, split: str) -> Dataset:
    data = _npz(root, "kws/kws01_1000.npz")
    classes = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence"]
    classes.append("unknown")
    return Dataset(
        "kws",
        split,
        data["x"][..., np.newaxis],
        data["y"].astype(np.int64),
        classes,
        "local",
        {"names": data["names"]},
    )


def coffee_split(labels: np.ndarray, seed: int = COFFEE_SPLIT_SEED) -> dict[str, np.ndarray]:
    """Seeded stratified train/test split of indices (classes 0-3 only), the same everywhere."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in range(len(COFFEE_CLASSES)):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        n_test = int(round(len(members) * COFFEE_TEST_FRACTION))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


def _local_coffee(root: Path, split: str) -> Dataset:
    data = _npz(root, "coffee/bracol_leaf.npz")
    labels = data["y"].astype(np.int64)
    x_all = _cached_decode(
        f"coffee-{COFFEE_SIZE}",
        root / "coffee/bracol_leaf.npz",
        lambda: decode_jpegs(data["jpeg"], data["offsets"], (COFFEE_SIZE, COFFEE_SIZE)),
    )
    indices = coffee_split(labels)[split]
    extra = {
        "ids": data["id"][indices],
        "split_seed": COFFEE_SPLIT_SEED,
        "test_fraction": COFFEE_TEST_FRACTION,
    }
    return Dataset("coffee", split, x_all[indices], labels[indices], COFFEE_CLASSES, "local", extra)


_LOCAL_LOADERS = {
    "cifar10": _local_cifar10,
    "vww": _local_vww,
    "coffee": _local_coffee,
    "kws": _local_kws,
}


# ---------------------------------------------------------------- official downloads


def fetch(download: Download, destination: Path) -> Path:
    """Download a file once into the cache and verify its checksum (DownloadError: offline)."""
    if not destination.is_file():
        tmp = destination.with_suffix(destination.suffix + ".part")
        try:
            urllib.request.urlretrieve(download.url, tmp)
        except OSError as error:
            raise DownloadError(f"cannot download {download.url} ({error})") from error
        tmp.replace(destination)
    verify_checksum(destination, download)
    return destination


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file (model hashes in manifests, results and on the board)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_checksum(path: Path, download: Download) -> None:
    """Raise UserError when the file's checksum differs from the published one."""
    for algorithm in ("sha256", "md5"):
        expected = getattr(download, algorithm)
        if expected is None:
            continue
        digest = hashlib.new(algorithm, path.read_bytes()).hexdigest()
        if digest != expected:
            raise UserError(f"{path} has {algorithm} {digest}, expected {expected}; delete it")


def _download_loaders(name: str, split: str) -> Dataset:
    if name != "cifar10":
        raise DownloadError(f"data set {name} has no public direct download the project can verify")
    archive = fetch(DOWNLOADS["cifar10"], cache_dir() / "cifar-10-python.tar.gz")
    members = ["test_batch"] if split != "train" else [f"data_batch_{i}" for i in range(1, 6)]
    xs, ys = [], []
    with tarfile.open(archive) as tar:
        for member in members:
            handle = tar.extractfile(f"cifar-10-batches-py/{member}")
            if handle is None:
                raise UserError(f"{archive} has no {member}: not the official CIFAR-10 archive")
            batch = pickle.load(handle, encoding="bytes")  # official format is a pickle
            xs.append(batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return Dataset(
        "cifar10", split, np.concatenate(xs), np.concatenate(ys), CIFAR10_CLASSES, "download"
    )
