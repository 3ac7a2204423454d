"""Train the zoo's own models: ``python -m host.train --model cifar10-resnet8``.

Seeded, with a progress bar per epoch and a checkpoint after every epoch: run the same command
again after an interruption and it resumes where it stopped. When training ends the model is
quantized (int8, int16x8) and its manifest written (see host.quantize).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from host import data as datasets
from host import quantize, zoo
from host.cli import integer, writable_folder
from host.errors import CommandParser, UserError, cli_main


@dataclass(frozen=True)
class Recipe:
    """How one own model is trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str  # "sgd" (Nesterov momentum 0.9) or "adam"
    crop_padding: int  # random-crop padding in pixels (0: none)
    vertical_flip: bool


RECIPES = {
    "cifar10-resnet8": Recipe(
        epochs=42,
        batch_size=128,
        learning_rate=0.1,
        optimizer="sgd",
        crop_padding=4,
        vertical_flip=False,
    ),
    "coffee-cnn": Recipe(
        epochs=60,
        batch_size=32,
        learning_rate=1e-3,
        optimizer="adam",
        crop_padding=16,
        vertical_flip=True,
    ),
}


def augment(x: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """Random crop after reflection padding, horizontal (and vertical) flips; uint8 in and out."""
    n, h, w = len(x), int(x.shape[1]), int(x.shape[2])
    p = recipe.crop_padding
    if p:
        padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        dy = rng.integers(0, 2 * p + 1, size=n)
        dx = rng.integers(0, 2 * p + 1, size=n)
        rows = dy[:, None] + np.arange(h)[None, :]
        cols = dx[:, None] + np.arange(w)[None, :]
        x = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(size=n) < 0.5
    x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
    if recipe.vertical_flip:
        flip = rng.random(size=n) < 0.5
        x = np.where(flip[:, None, None, None], x[:, ::-1], x)
    return x


def learning_rate(recipe: Recipe, epoch: int) -> float:
    """Linear warm-up over 2 epochs, then cosine decay to zero."""
    if epoch < 2:
        return recipe.learning_rate * (epoch + 1) / 3
    progress = (epoch - 2) / max(1, recipe.epochs - 2)
    return recipe.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train(
    name: str,
    seed: int,
    epochs: int | None,
    data_dir: str | None,
    out_dir: Path | None = None,
    limit: int | None = None,
) -> Path:
    """Train (or resume) one own model and write <out_dir>/float.keras (default models/<name>).

    ``limit`` trains on the first examples only (for smoke tests).
    """
    import keras  # TensorFlow loads only when a model is trained
    from tqdm import tqdm

    from host.zoo.architectures import ARCHITECTURES, rebatch  # imports keras

    entry = zoo.spec(name)
    if entry.origin != "own" or entry.train_split is None:
        raise UserError(f"{name} is imported, not trained here")
    recipe = RECIPES[name]
    if epochs is not None:
        recipe = Recipe(**{**asdict(recipe), "epochs": epochs})
    train_set = datasets.load(entry.dataset, entry.train_split, data_dir).take(limit)
    test_set = datasets.load(entry.dataset, entry.eval_split, data_dir)

    out_dir = Path(out_dir) if out_dir else zoo.model_dir(name)
    work = out_dir / "checkpoint"
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state and not _same_run(state, seed, recipe, len(train_set)):
        raise UserError(f"checkpoint in {work} was made with another seed or recipe; delete it")

    keras.utils.set_random_seed(seed)
    if state:
        model = keras.models.load_model(work / "model.keras")
    else:
        model = ARCHITECTURES[entry.architecture](batch_size=None)
        if recipe.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(recipe.learning_rate, momentum=0.9, nesterov=True)
        else:
            optimizer = keras.optimizers.Adam(recipe.learning_rate)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        state = {
            "seed": seed,
            "recipe": asdict(recipe),
            "examples": len(train_set),
            "epoch": 0,
            "history": [],
            "seconds": 0,
        }
    if state["recipe"]["epochs"] != recipe.epochs:  # resumed with another length: record it
        change = {
            "at_epoch": state["epoch"],
            "from": state["recipe"]["epochs"],
            "to": recipe.epochs,
        }
        state.setdefault("schedule_changes", []).append(change)
    state["recipe"] = asdict(recipe)

    x_test = test_set.x.astype(np.float32) / 255.0
    steps = math.ceil(len(train_set) / recipe.batch_size)
    for epoch in range(state["epoch"], recipe.epochs):
        started = time.time()
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_set))
        model.optimizer.learning_rate.assign(learning_rate(recipe, epoch))
        losses, correct = [], 0
        bar = tqdm(range(steps), desc=f"{name} epoch {epoch + 1}/{recipe.epochs}", unit="batch")
        for step in bar:
            idx = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            xb = augment(train_set.x[idx], recipe, rng).astype(np.float32) / 255.0
            loss, acc = model.train_on_batch(xb, train_set.y[idx])[:2]
            losses.append(float(loss))
            correct += acc * len(idx)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        test_acc = float(
            np.mean(np.argmax(model.predict(x_test, batch_size=256, verbose=0), 1) == test_set.y)
        )
        state["epoch"] = epoch + 1
        state["seconds"] += time.time() - started
        state["history"].append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "train_accuracy": correct / len(train_set),
                "test_accuracy": test_acc,
            }
        )
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.3f} test accuracy {test_acc:.4f}")
        model.save(work / "model.tmp.keras")
        (work / "model.tmp.keras").replace(work / "model.keras")
        state_path.write_text(json.dumps(state, indent=2))

    final = out_dir / "float.keras"
    rebatch(model, entry.architecture, batch_size=None).save(final)  # weights only, no optimizer
    (out_dir / "training.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "recipe": state["recipe"],
                "train_split": f"{entry.dataset}/{entry.train_split} ({train_set.source})",
                "train_examples": len(train_set),
                "training_seconds": round(state["seconds"], 1),
                "history": state["history"],
                "schedule_changes": state.get("schedule_changes", []),
                "note": "the last epoch is kept; no checkpoint selection on test data",
            },
            indent=2,
        )
        + "\n"
    )
    return final


def _same_run(state: dict, seed: int, recipe: Recipe, examples: int) -> bool:
    """A checkpoint resumes only with the same seed, data and recipe (more epochs allowed)."""
    saved = {**state["recipe"], "epochs": recipe.epochs}
    return (
        state["seed"] == seed
        and saved == asdict(recipe)
        and state.get("examples", examples) == examples
    )


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m host.train", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(RECIPES))
    parser.add_argument("--seed", type=integer(0), default=0, help="seed, >= 0 (default: 0)")
    parser.add_argument(
        "--epochs", type=integer(1), help="override the recipe's number of epochs (>= 1)"
    )
    parser.add_argument(
        "--data-dir", help=f"offline data directory (else ${datasets.DATA_DIR_ENV})"
    )
    parser.add_argument("--no-quantize", action="store_true", help="stop after float training")
    parser.add_argument(
        "--out", help="output directory (default models/<model>); implies --no-quantize"
    )
    parser.add_argument(
        "--limit", type=integer(1), help="train on the first N (>= 1) training examples only"
    )
    args = parser.parse_args(argv)
    out = writable_folder(args.out) if args.out else None
    path = train(args.model, args.seed, args.epochs, args.data_dir, out, args.limit)
    print(f"float model: {path}")
    if not args.no_quantize and out is None:
        quantize.quantize_model(args.model, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
