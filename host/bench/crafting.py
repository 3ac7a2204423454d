"""Benchmark section ``crafting``: the PGD grid of a campaign against plain ART, side by side.

The grid: PGD (Linf, the paper's 20 iterations of eps/10, no random start) crafted on the float
model at each eps, on the same n test images, every adversarial example evaluated on every
backend (float, tflm-int16, tflm-int8), clean accuracy included. Three configurations:

- ``paper``: the seed paper's; ART's own ``TensorFlowV2Classifier`` (eager gradients), PGD with
  ``batch_size=1``, and one interpreter invoke (one backend call) per image.
- ``art``: plain batched ART; the same classifier, PGD with ``batch_size=n``, each backend
  called on whole batches (``run_in_chunks``).
- ``campaign``: ``host.run.campaign.Runner`` (traced gradients, batched evaluation), records in
  memory.

Each is timed from the loaded backends (the Keras logits model built, the gradient traced, inside
the time) to every prediction; repeats are interleaved (paper, art, campaign, paper, ...) and
figures are medians. Same results: PGD's math is the same in the three (ART's, on the same
logits), so the adversarial predictions of every (image, eps, backend) are compared between
``campaign`` and ``art`` and between ``paper`` and ``art``: the counts of differing
predictions (0 when the results are the same; the traced and eager gradients agree to float
rounding, and batching only scales the loss by 1/batch, which the sign step ignores), and the
largest difference between the paper's and the batched adversarial images.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from host import data, zoo
from host.attacks import make_attack
from host.attacks.oracles import logits_model
from host.backends import Backend, get_backend, run_in_chunks
from host.bench.section import Section
from host.cli import backend_names, integer, numbers
from host.errors import UserError
from host.run.campaign import Runner, plan_campaign

NAME = "crafting"
CONFIGS = ("paper", "art", "campaign")
Predictions = dict[tuple[float, str], np.ndarray]  # (eps, backend) -> labels of the n images


class Grid:
    """The grid's images, labels and loaded backends, shared by the three configurations."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.model = (args.models or ["cifar10-resnet8"])[0]
        self.epsilons = numbers(args.crafting_eps, "--crafting-eps")
        self.backend_names = backend_names(args.crafting_backends) or []
        self.n = args.crafting_n
        self.iterations = args.crafting_iter
        entry = zoo.spec(self.model)
        dataset = data.load(entry.dataset, entry.eval_split, args.data_dir)
        self.dataset = dataset
        self.x = dataset.x[: self.n].astype(np.float32) / np.float32(255.0)
        self.y = dataset.y[: self.n]
        self.onehot = np.eye(len(dataset.classes), dtype=np.float32)[self.y]
        self.backends = {name: get_backend(self.model, name) for name in self.backend_names}
        self.input_range = entry.input_range

    def art_pgd(self, batch_size: int, run: Callable[[Backend, np.ndarray], np.ndarray]):
        """Plain ART: eager classifier, PGD with ``batch_size``, backends called by ``run``."""
        import tensorflow as tf
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import TensorFlowV2Classifier

        model = logits_model(zoo.model_file(self.model, "float"), self.input_range)
        classifier = TensorFlowV2Classifier(
            model,
            nb_classes=self.onehot.shape[1],
            input_shape=self.x.shape[1:],
            loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
            clip_values=(0.0, 1.0),
        )
        for backend in self.backends.values():
            run(backend, self.x)  # clean accuracy, as the campaign measures it
        predictions: Predictions = {}
        examples = {}
        for eps in self.epsilons:
            pgd = ProjectedGradientDescent(
                classifier,
                eps=eps,
                eps_step=eps * 0.1,
                max_iter=self.iterations,
                num_random_init=0,
                batch_size=batch_size,
                verbose=False,
            )
            examples[eps] = pgd.generate(self.x, y=self.onehot)
            for name, backend in self.backends.items():
                raw = run(backend, examples[eps]).reshape(self.n, -1)
                predictions[eps, name] = raw.argmax(axis=1)
        return predictions, examples

    def paper(self):
        return self.art_pgd(1, per_image)

    def art(self):
        return self.art_pgd(self.n, run_in_chunks)

    def campaign(self):
        """The campaign's Runner on the grid (records in memory)."""
        attack = make_attack("pgd", max_iter=self.iterations)
        campaign = plan_campaign(
            self.model,
            [attack],
            self.backend_names,
            self.epsilons,
            [],
            "transfer",
            None,
            self.n,
            0,
            None,
        )
        runner = Runner(
            campaign, backends=dict(self.backends), dataset=self.dataset, resume_checked=True
        )
        predictions: Predictions = {}
        positions = {int(i): j for j, i in enumerate(runner.indices)}
        for eps in self.epsilons:
            for name in self.backend_names:
                predictions[eps, name] = np.zeros(self.n, dtype=np.int64)
        for record in runner.run():
            for name, outcome in record.backends.items():
                eps = float(record.eps)
                predictions[eps, name][positions[record.index]] = outcome.prediction
        return predictions, {}


def per_image(backend: Backend, x: np.ndarray) -> np.ndarray:
    """The paper's evaluation: one interpreter invoke per image."""
    return np.concatenate([backend.run(x[i : i + 1]) for i in range(len(x))])


def differing(a: Predictions, b: Predictions) -> int:
    """(image, eps, backend) whose adversarial predictions differ."""
    return sum(int(np.sum(a[key] != b[key])) for key in a)


def measure_grid(grid: Grid, repeats: int) -> dict:
    """Interleaved repeats of the three configurations: medians, ratios and result checks."""
    seconds: dict[str, list[float]] = {config: [] for config in CONFIGS}
    cpu: dict[str, list[float]] = {config: [] for config in CONFIGS}
    outcome = {}
    for repeat in range(repeats):
        for config in CONFIGS:
            start, start_cpu = time.perf_counter(), time.process_time()
            outcome[config] = getattr(grid, config)()
            seconds[config].append(time.perf_counter() - start)
            cpu[config].append(time.process_time() - start_cpu)
            done = f"repeat {repeat + 1}/{repeats}, {config}: {seconds[config][-1]:.1f} s"
            print(f"crafting: {done}", file=sys.stderr)
    median = {config: statistics.median(s) for config, s in seconds.items()}
    paper_x, art_x = outcome["paper"][1], outcome["art"][1]
    return {
        "model": grid.model,
        "n": grid.n,
        "epsilons": grid.epsilons,
        "backends": grid.backend_names,
        "max_iter": grid.iterations,
        "repeats": repeats,
        "seconds": seconds,
        "cpu_seconds": cpu,  # this process's CPU time (all its threads): less load-dependent
        "median_s": median,
        "median_cpu_s": {config: statistics.median(s) for config, s in cpu.items()},
        "campaign_over_paper": median["paper"] / median["campaign"],
        "campaign_over_art": median["art"] / median["campaign"],
        "evaluated": len(grid.epsilons) * len(grid.backend_names) * grid.n,
        "differing_campaign_art": differing(outcome["campaign"][0], outcome["art"][0]),
        "differing_paper_art": differing(outcome["paper"][0], outcome["art"][0]),
        "max_abs_paper_art": max(float(np.abs(paper_x[e] - art_x[e]).max()) for e in art_x),
    }


def table(result: dict) -> list[str]:
    median = result["median_s"]
    lines = [
        f"PGD grid: {result['model']}, n {result['n']}, eps {result['epsilons']}, "
        f"{result['max_iter']} iterations, backends {','.join(result['backends'])}, "
        f"medians of {result['repeats']}",
        f"{'configuration':<44} {'s':>8} {'campaign is':>12} {'CPU s':>8} {'CPU ratio':>10}",
    ]
    labels = {
        "paper": "paper (ART eager, batch 1, invoke per image)",
        "art": "plain batched ART (eager, batch n)",
        "campaign": "campaign (traced, batched evaluation)",
    }
    cpu = result["median_cpu_s"]
    for config in CONFIGS:
        ratio, cpu_ratio = median[config] / median["campaign"], cpu[config] / cpu["campaign"]
        lines.append(
            f"{labels[config]:<44} {median[config]:>8.1f} {ratio:>11.2f}x "
            f"{cpu[config]:>8.1f} {cpu_ratio:>9.2f}x"
        )
    lines.append(
        f"same results: {result['differing_campaign_art']} of {result['evaluated']} adversarial "
        f"predictions differ campaign vs art, {result['differing_paper_art']} paper vs art "
        f"(images differ by at most {result['max_abs_paper_art']:.2g})"
    )
    return lines


OPTIONS = (  # option, type, default, help
    ("--crafting-n", integer(1), 100, "images of the grid"),
    ("--crafting-eps", str, "0.002,0.004,0.008", "eps grid"),
    ("--crafting-backends", str, "float,tflm-int16,tflm-int8", "evaluated backends"),
    ("--crafting-iter", integer(1), 20, "PGD iterations"),
    ("--crafting-repeats", integer(1), 3, "interleaved repeats"),
)


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("crafting section (first of --models, else cifar10-resnet8)")
    for option, kind, default, text in OPTIONS:
        group.add_argument(option, type=kind, default=default, help=f"{text} (default {default})")


def check(args: argparse.Namespace) -> None:
    """Bad options, before any work."""
    epsilons = numbers(args.crafting_eps, "--crafting-eps")
    if not epsilons or any(not 0 < eps <= 1 for eps in epsilons):
        raise UserError(f"--crafting-eps takes eps in (0, 1], got {args.crafting_eps!r}")
    backend_names(args.crafting_backends)
    zoo.spec((args.models or ["cifar10-resnet8"])[0])


def measure(args: argparse.Namespace) -> Section:
    result = measure_grid(Grid(args), args.crafting_repeats)
    return Section(NAME, table(result), result)
