"""Train the zoo's own models: ``python -m host.train --model cifar10-resnet8``.

Seeded, with a progress bar per epoch and a checkpoint after every epoch: run the same command
again after an interruption and it resumes where it stopped. When training ends the model is
quantized (int8, int16x8) and its manifest written (see host.quantize).

``--defense adv-train`` (or ensemble-adv-train, distillation, sinkhorn-adv-train) fine-tunes the
committed model instead into the defended zoo model ``models/<model>-<defense>/`` (its
model.toml is written first); the defenses are in host/zoo/robust_training.py.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from host import data as datasets
from host import quantize, zoo
from host.cli import integer, writable_folder
from host.errors import CommandParser, UserError, cli_main
from host.paths import MODELS
from host.zoo.entry import DEFENSES


@dataclass(frozen=True)
class Recipe:
    """How one own model is trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str  # "sgd" (Nesterov momentum 0.9) or "adam"
    crop_padding: int  # random-crop padding in pixels (0: none)
    vertical_flip: bool
    examples: int | None = None  # a seeded subset of the training split (None: all of it)
    schedule: str = "warmup-cosine"  # or "constant" (fine-tuning)


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


# Fine-tuning recipes of the defended models (measured to fit ~6 min on CIFAR-10 and ~5 min on
# coffee on 2 CPU cores): a seeded subset of the training split, a constant small learning rate.
_CIFAR_TUNE = Recipe(
    epochs=2,
    batch_size=128,
    learning_rate=2e-4,
    optimizer="adam",  # SGD 0.01 (momentum 0.9) collapsed PGD fine-tuning to one class
    crop_padding=4,
    vertical_flip=False,
    examples=16000,
    schedule="constant",
)
_COFFEE_TUNE = Recipe(
    epochs=2,
    batch_size=32,
    learning_rate=1e-4,
    optimizer="adam",
    crop_padding=16,
    vertical_flip=True,
    schedule="constant",
)
DEFENSE_RECIPES = {
    ("cifar10-resnet8", "adv-train"): _CIFAR_TUNE,
    ("cifar10-resnet8", "ensemble-adv-train"): _CIFAR_TUNE,
    ("cifar10-resnet8", "distillation"): _CIFAR_TUNE,
    ("cifar10-resnet8", "sinkhorn-adv-train"): _CIFAR_TUNE,
    ("coffee-cnn", "adv-train"): _COFFEE_TUNE,
    ("coffee-cnn", "ensemble-adv-train"): _COFFEE_TUNE,
    ("coffee-cnn", "distillation"): _COFFEE_TUNE,
    ("coffee-cnn", "sinkhorn-adv-train"): _COFFEE_TUNE,
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
    """Linear warm-up over 2 epochs, then cosine decay to zero (or constant)."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
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
    defense: str | None = None,
) -> Path:
    """Train (or resume) one own model and write <out_dir>/float.keras (default models/<name>,
    or models/<name>-<defense> when fine-tuning ``name`` with a defense).

    ``limit`` trains on the first examples only (for smoke tests).
    """
    import keras  # TensorFlow loads only when a model is trained
    from tqdm import tqdm

    from host.zoo.architectures import ARCHITECTURES, rebatch  # imports keras

    entry = zoo.spec(name)
    if entry.origin != "own" or entry.train_split is None or entry.defense:
        raise UserError(f"{name} is not an own model trained from scratch here")
    recipe = RECIPES[name] if defense is None else _defense_recipe(name, defense)
    if epochs is not None:
        recipe = Recipe(**{**asdict(recipe), "epochs": epochs})
    train_set = datasets.load(entry.dataset, entry.train_split, data_dir)
    if recipe.examples is not None and recipe.examples < len(train_set):
        picked = np.sort(np.random.default_rng(seed).permutation(len(train_set))[: recipe.examples])
        train_set = replace(train_set, x=train_set.x[picked], y=train_set.y[picked])
    train_set = train_set.take(limit)
    test_set = datasets.load(entry.dataset, entry.eval_split, data_dir)

    if out_dir is None:
        out_dir = zoo.model_dir(name) if defense is None else MODELS / f"{name}-{defense}"
    out_dir = Path(out_dir)
    work = out_dir / "checkpoint"
    work.mkdir(parents=True, exist_ok=True)
    if defense is not None:
        write_defended_entry(entry, defense, out_dir)
    state_path = work / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state and not _same_run(state, seed, recipe, len(train_set)):
        raise UserError(f"checkpoint in {work} was made with another seed or recipe; delete it")

    keras.utils.set_random_seed(seed)
    if state:
        model = keras.models.load_model(work / "model.keras")
    else:
        if defense is None:
            model = ARCHITECTURES[entry.architecture](batch_size=None)
        else:
            model = _load_float(name, entry.architecture)
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
    step = _plain_step(model) if defense is None else _defense_step(model, name, defense)

    x_test = test_set.x.astype(np.float32) / 255.0
    steps = math.ceil(len(train_set) / recipe.batch_size)
    label = name if defense is None else f"{name}-{defense}"
    for epoch in range(state["epoch"], recipe.epochs):
        started = time.time()
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_set))
        model.optimizer.learning_rate.assign(learning_rate(recipe, epoch))
        losses, correct = [], 0.0
        bar = tqdm(range(steps), desc=f"{label} epoch {epoch + 1}/{recipe.epochs}", unit="batch")
        for batch in bar:
            idx = order[batch * recipe.batch_size : (batch + 1) * recipe.batch_size]
            xb = augment(train_set.x[idx], recipe, rng).astype(np.float32) / 255.0
            loss, acc = step(xb, train_set.y[idx], rng)
            losses.append(loss)
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
    record = {
        "seed": seed,
        "recipe": state["recipe"],
        "train_split": f"{entry.dataset}/{entry.train_split} ({train_set.source})",
        "train_examples": len(train_set),
        "training_seconds": round(state["seconds"], 1),
        "history": state["history"],
        "schedule_changes": state.get("schedule_changes", []),
        "note": "the last epoch is kept; no checkpoint selection on test data",
    }
    if recipe.examples is not None:
        record["subset"] = (
            f"np.sort(np.random.default_rng({seed}).permutation(n)[:{recipe.examples}])"
        )
    if defense is not None:
        record.update(_defense_record(name, defense, seed, recipe))
    (out_dir / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return final


def _defense_recipe(name: str, defense: str) -> Recipe:
    if defense not in DEFENSES:
        raise UserError(f"unknown defense {defense!r}; known: {', '.join(DEFENSES)}")
    if (name, defense) not in DEFENSE_RECIPES:
        raise UserError(f"{name} has no {defense} recipe; known: {', '.join(RECIPES)}")
    return DEFENSE_RECIPES[(name, defense)]


def write_defended_entry(base: zoo.ModelSpec, defense: str, folder: Path) -> Path:
    """The model.toml of ``base`` fine-tuned with ``defense``, in ``folder``."""
    lines = [
        f"# Zoo entry: `python -m host.train --model {base.name} --defense {defense}` fine-tunes",
        f"# {base.name} into this folder (recipe and parameters: training.json).",
        f'architecture = "{base.architecture}"',
        f'dataset = "{base.dataset}"',
        f'eval_split = "{base.eval_split}"',
        f'train_split = "{base.train_split}"',
        'origin = "own"',
        f'base = "{base.name}"',
        f'defense = "{defense}"',
        f'description = "{base.name} fine-tuned by {DESCRIPTIONS[defense]}"',
    ]
    path = folder / zoo.ENTRY_FILE
    path.write_text("\n".join(lines) + "\n")
    zoo.entries.cache_clear()  # a new zoo entry
    return path


DESCRIPTIONS = {
    "adv-train": "PGD adversarial training (Madry et al., Linf)",
    "ensemble-adv-train": "ensemble adversarial training (Tramer et al., FGSM)",
    "distillation": "defensive distillation (Papernot et al.)",
    "sinkhorn-adv-train": "Sinkhorn adversarial training (SAT, Bouniot et al.)",
}


def _load_float(name: str, architecture: str):
    """A zoo model's float Keras model with a free batch size (a fine-tuning start)."""
    from host.zoo import keras_file  # imports keras: only when a model is trained
    from host.zoo.architectures import rebatch  # imports keras, as above

    return rebatch(keras_file.load(zoo.model_file(name, "float")), architecture, None)


def _auxiliaries(name: str, defense: str) -> list[tuple[str, float]]:
    """The static models (zoo name, input range) of a defense: the distillation teacher, the
    ensemble's auxiliary FGSM sources."""
    if defense == "distillation":
        return [(name, 1.0)]
    if defense != "ensemble-adv-train":
        return []
    extra = AUXILIARIES.get(name, [])
    return [(name, 1.0)] + [(aux, zoo.spec(aux).input_range) for aux in extra]


# Ensemble adversarial training's static sources besides the base model itself.
AUXILIARIES = {"cifar10-resnet8": ["mlperf-resnet8"]}


def _plain_step(model):
    def step(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        loss, acc = model.train_on_batch(x, y)[:2]
        return float(loss), float(acc)

    return step


def _defense_step(model, name: str, defense: str):
    """One batch of a defense: random starts and the ensemble's source drawn from ``rng``."""
    from host.zoo import keras_file, robust_training  # imports TensorFlow: only when training

    robust_training.freeze_batch_norm(model)
    p = robust_training.params(defense, zoo.spec(name).dataset)
    statics = [
        robust_training.logits_fn(keras_file.load(zoo.model_file(aux, "float")), scale)
        for aux, scale in _auxiliaries(name, defense)
    ]
    robust = robust_training.RobustStep(model, defense, p, statics)
    sources = 1 + len(statics) if defense == "ensemble-adv-train" else 1

    def step(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        shape = x.shape if p.steps else (1,)
        noise = rng.uniform(-p.eps, p.eps, size=shape).astype(np.float32)
        return robust(x, y, noise, int(rng.integers(sources)))

    return step


def _defense_record(name: str, defense: str, seed: int, recipe: Recipe) -> dict:
    """What training.json records of a defense: base, parameters, static models."""
    from host.zoo import robust_training  # imports TensorFlow: only when training

    return {
        "base": name,
        "base_float_sha256": datasets.sha256_file(zoo.model_file(name, "float")),
        "defense": defense,
        "defense_parameters": asdict(robust_training.params(defense, zoo.spec(name).dataset)),
        "static_models": [aux for aux, _ in _auxiliaries(name, defense)],
        "command": f"python -m host.train --model {name} --defense {defense} --seed {seed}",
    }


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
    parser.add_argument(
        "--defense",
        help=f"fine-tune the model with a defense into models/<model>-<defense>: "
        f"{', '.join(DEFENSES)}",
    )
    args = parser.parse_args(argv)
    if args.defense is not None:
        _defense_recipe(args.model, args.defense)  # a bad defense fails before any work
    out = writable_folder(args.out) if args.out else None
    path = train(args.model, args.seed, args.epochs, args.data_dir, out, args.limit, args.defense)
    print(f"float model: {path}")
    if not args.no_quantize and out is None:
        name = args.model if args.defense is None else f"{args.model}-{args.defense}"
        quantize.quantize_model(name, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
