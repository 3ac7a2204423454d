"""What the gradient-masking audit measures at the end of a campaign, cheaply.

On a few clean examples (``EXAMPLES``): the loss gradient a white-box attack uses (the float
model's, and each integer model's replica), finite differences of one input step on each
host integer backend (the real integer landscape), and the replicas' top-1 agreement with the
integer backends on all the campaign's clean examples. Anything predicted to take longer than
``BUDGET_S`` is skipped with a note. The result is plain JSON (the run folder keeps it).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from host import zoo
from host.attacks.oracles import logits_model
from host.attacks.replica import replica_logits_model
from host.attacks.threat import step_of
from host.backends import HOST_RUNTIMES, Backend
from host.defenses import parse_name
from host.errors import UserError
from host.metrics.gradients import estimate_analytic, estimate_backend

EXAMPLES = 8
DIRECTIONS = 16  # random sign directions per example
BUDGET_S = 2.0  # per estimate, predicted from one timed forward pass


def replica_model(model: str, precision: str):
    """The replica of a zoo model's integer file (host.attacks.replica), built once per file
    content in a process."""
    return _logits(zoo.model_file(model, precision), zoo.spec(model).input_range)


def float_model(model: str):
    """The float model's logits model (host.attacks.oracles), built once per file content."""
    return _logits(zoo.model_file(model, "float"), zoo.spec(model).input_range)


def _logits(path: Path, input_range: float):
    stat = path.stat()
    return _built(str(path), stat.st_mtime_ns, stat.st_size, float(input_range))


@functools.lru_cache(maxsize=8)
def _built(path: str, mtime_ns: int, size: int, input_range: float):
    """A logits model, keyed by the file's path, time and size (a changed file is rebuilt)."""
    if path.endswith(".tflite"):
        return replica_logits_model(path, input_range)
    return logits_model(path, input_range)


def _predicted_seconds(backend: Backend, x: np.ndarray, images: int) -> float:
    start = time.perf_counter()
    backend.run(x[:1])
    return (time.perf_counter() - start) * images


def measure(
    model: str,
    backends: Mapping[str, Backend],
    x: np.ndarray,
    labels: np.ndarray,
    budget_s: float = BUDGET_S,
) -> dict[str, Any]:
    """Gradient estimates on the first ``EXAMPLES`` of x and replica agreement on all of x."""
    few, few_labels = x[:EXAMPLES], labels[:EXAMPLES]
    estimates, notes, agreement = [], [], {}
    integer: dict[str, Backend] = {}  # one host backend per precision, the engine first
    for name, b in sorted(backends.items(), key=lambda item: not item[0].startswith("engine")):
        host = parse_name(name)[0] in HOST_RUNTIMES and "+" not in name
        if (
            host
            and b.precision != "float"
            and b.precision not in {i.precision for i in integer.values()}
        ):
            integer[name] = b
    steps = {b.precision: step_of(b) for b in integer.values()}
    step = steps.get("int8", next(iter(steps.values()), 0.0))
    if any(b.precision == "float" for b in backends.values()):
        estimates.append(estimate_analytic("float", float_model(model), few, few_labels, step))
    for name, backend in integer.items():
        own = steps[backend.precision]
        cost = _predicted_seconds(backend, few, 2 * DIRECTIONS * len(few))
        if cost > budget_s:
            notes.append(f"{name}: finite differences skipped (predicted {cost:.1f} s)")
            continue
        estimates.append(estimate_backend(backend, few, few_labels, own, own, DIRECTIONS))
    for precision in sorted({b.precision for b in integer.values()}):
        try:
            replica = replica_model(model, precision)
        except UserError as error:  # an op the replica does not support, say
            notes.append(f"replica-{precision}: not measured ({error})")
            continue
        name = f"replica-{precision}"
        estimates.append(estimate_analytic(name, replica, few, few_labels, steps[precision]))
        ours = np.concatenate([np.asarray(replica(x[i : i + 64])) for i in range(0, len(x), 64)])
        backend = next(b for b in integer.values() if b.precision == precision)
        real = backend.dequantize_output(backend.run(x)).reshape(len(x), -1)
        agreement[name] = {
            "backend": backend.name,
            "n": len(x),
            "top1_agreement": float(np.mean(ours.argmax(1) == real.argmax(1))),
        }
    return {
        "model": model,
        "n": len(few),
        "directions": DIRECTIONS,
        "estimates": [e.to_dict() for e in estimates],
        "replica_agreement": agreement,
        "notes": notes,
    }
