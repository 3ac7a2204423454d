"""``python -m host.metrics``: loss-gradient norms and zero-gradient shares of zoo models.

For each model, on its first n evaluation examples: the exact gradient of the float model and
of each integer model's replica, central differences on the float model and on the integer
engines (engine-int8/int16, byte-exact with TFLite Micro) with h of 1 and 2 input steps, and the
seed paper's estimator (h of a quarter step, below one step). Norms and zero shares with
bootstrap 95 % intervals over the examples, in float units and in input steps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from host import data, zoo
from host.attacks.oracles import logits_model
from host.attacks.threat import step_of
from host.defenses import get_backend
from host.errors import CommandParser, UserError, cli_main
from host.metrics.gradients import DIRECTIONS, GradientEstimate, estimate_analytic, estimate_backend
from host.metrics.measure import replica_model
from host.metrics.statistics import bootstrap

MODELS = ("cifar10-resnet8", "mlperf-resnet8", "coffee-cnn")
H_STEPS = (1.0, 2.0)
PAPER_H_STEPS = 0.25  # below one step: x + h and x - h quantize alike


def estimates(
    model: str, n: int, k: int, directions: str, data_dir: str | None
) -> list[GradientEstimate]:
    """Every estimator on one model (see the module docstring)."""
    entry = zoo.spec(model)
    dataset = data.load(entry.dataset, entry.eval_split, data_dir)
    if dataset.x.dtype != np.uint8:
        raise UserError(f"{model}: gradients are measured on images, not {dataset.x.dtype}")
    x, y = dataset.x[:n].astype(np.float32) / np.float32(255.0), dataset.y[:n]
    int8_step = step_of(get_backend(model, "engine-int8"))
    found = [
        estimate_analytic(
            "float",
            logits_model(zoo.model_file(model, "float"), entry.input_range),
            x,
            y,
            int8_step,
        )
    ]
    float_backend = get_backend(model, "float")
    for steps in (PAPER_H_STEPS, *H_STEPS):
        found.append(
            estimate_backend(float_backend, x, y, steps * int8_step, int8_step, k, directions)
        )
    for precision in ("int16", "int8"):
        backend = get_backend(model, f"engine-{precision}")
        step = step_of(backend)
        replica = replica_model(model, precision)
        found.append(estimate_analytic(f"replica-{precision}", replica, x, y, step))
        for steps in (PAPER_H_STEPS, *H_STEPS):
            found.append(estimate_backend(backend, x, y, steps * step, step, k, directions))
        if precision == "int16":  # the int8 step on int16: the same eps in float units
            for steps in H_STEPS:
                found.append(
                    estimate_backend(backend, x, y, steps * int8_step, step, k, directions)
                )
    return found


def table(rows: list[tuple[str, GradientEstimate]]) -> str:
    """Markdown: per model and estimator, norm mean [95 % CI] in float and steps, zero share."""
    head = [
        "model",
        "gradient of",
        "estimator",
        "h (input steps)",
        "n x k",
        "L2 norm mean [95 % CI] (float)",
        "norm mean (per step)",
        "zero share % [95 % CI]",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, e in rows:
        norm = bootstrap(e.norms)
        zero = bootstrap(100 * np.asarray(e.zero_shares))
        h = "exact" if e.h_steps is None else f"{e.h_steps:.3g}"
        lines.append("| " + " | ".join([
            model, e.backend, f"{e.estimator} ({e.directions})", h, f"{e.n} x {e.k}",
            norm.text(), f"{norm.value * e.step:.3g}", zero.text(),
        ]) + " |")  # fmt: skip
    return "\n".join(lines)


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="python -m host.metrics",
        description="Loss-gradient norms and zero-gradient shares: float, int16 and int8.",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo models")
    parser.add_argument("--n", type=int, default=50, help="examples per model (default 50)")
    parser.add_argument("--k", type=int, default=16, help="directions per example (default 16)")
    parser.add_argument("--directions", default="sign", help=f"one of {', '.join(DIRECTIONS)}")
    parser.add_argument("--data-dir", default=None, help="offline data directory")
    parser.add_argument("--json", default=None, help="also write every estimate to this file")
    args = parser.parse_args(argv)
    if args.n <= 0 or args.k <= 0:
        raise UserError(f"--n and --k must be positive, got {args.n} and {args.k}")
    if args.directions not in DIRECTIONS:
        raise UserError(f"--directions must be one of {', '.join(DIRECTIONS)}")
    rows = []
    for model in [m for m in args.models.split(",") if m]:
        rows += [
            (model, e) for e in estimates(model, args.n, args.k, args.directions, args.data_dir)
        ]
    print(table(rows))
    if args.json:
        items = [{"model": model, **e.to_dict()} for model, e in rows]
        Path(args.json).write_text(json.dumps(items, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
