"""Loss gradients of a model, as an attacker could estimate them, in float and in input steps.

The loss is the cross-entropy of a backend's dequantized softmax output for the true label.
Three estimators:
- ``finite_difference``: central differences ``(L(x + h d) - L(x - h d)) / 2h`` on the real
  backend (engine-int8/int16 are byte-exact with TFLite Micro) along random sign directions
  ``d`` (every pixel +-1) or random coordinates. With ``h`` of at least one input step the
  integer input changes; with ``h`` below one step (the seed paper's estimator) ``x + h d`` and
  ``x - h d`` quantize alike and every difference is zero by construction.
- ``analytic``: the exact gradient of a differentiable logits model (the float model, or the
  replica of an integer model) by TensorFlow.

The L2 norm is estimated from directional derivatives: for sign directions
``E[(g.d)^2] = |g|^2``, for coordinates ``D * E[g_i^2] = |g|^2``. A norm in input steps is the
change of the loss per step: the float-unit norm times the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from host.backends import Backend, run_in_chunks
from host.errors import UserError

DIRECTIONS = ("sign", "coordinate")
FLOOR = 1e-12  # a probability of 0 (an int8 softmax output can be 0) reads as this


@dataclass
class GradientEstimate:
    """One estimator on one model/backend over n examples (norms: mean and median per
    example; ``zero_share``: the share of directional derivatives, or gradient components,
    that are exactly zero)."""

    backend: str
    estimator: str  # "finite-difference" or "analytic"
    directions: str  # "sign", "coordinate" or "exact" (analytic)
    h: float | None  # the finite-difference step in [0,1] units
    h_steps: float | None  # ... in input steps of ``step``
    step: float  # the input step the steps units count (an int8 or int16 step)
    n: int
    k: int  # directions per example (analytic: input dimensions)
    norm_mean: float
    norm_median: float
    norm_steps_mean: float
    zero_share: float
    seconds: float
    norms: list[float]  # per example, float units
    zero_shares: list[float]  # per example

    def to_dict(self) -> dict:
        return asdict(self)


def cross_entropy(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per example: -log of the score of the true label (scores are softmax outputs)."""
    chosen = scores[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return -np.log(np.maximum(chosen.astype(np.float64), FLOOR))


def backend_loss(backend: Backend) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The loss of a backend: cross-entropy of its dequantized outputs."""

    def loss(x01: np.ndarray, labels: np.ndarray) -> np.ndarray:
        raw = run_in_chunks(backend, np.asarray(x01, dtype=np.float32))
        scores = backend.dequantize_output(raw).reshape(len(x01), -1)
        return cross_entropy(scores, labels)

    return loss


def random_directions(shape: tuple[int, ...], k: int, kind: str, seed: int) -> np.ndarray:
    """k directions per example (k, *shape): random signs, or one-hot random coordinates."""
    if kind not in DIRECTIONS:
        raise UserError(f"unknown directions {kind!r}; known: {', '.join(DIRECTIONS)}")
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if kind == "sign":
        return rng.choice(np.array([-1.0, 1.0], np.float32), size=(k, *shape))
    picks = rng.choice(size, size=k, replace=k > size)
    d = np.zeros((k, size), dtype=np.float32)
    d[np.arange(k), picks] = 1.0
    return d.reshape(k, *shape)


def finite_difference(
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    h: float,
    k: int = 16,
    kind: str = "sign",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences along k random directions per example: (derivatives (n, k), the L2
    norm estimate per example (n,)), in float units. Points are clipped to [0,1]."""
    if h <= 0 or k <= 0:
        raise UserError(f"finite differences need h > 0 and k >= 1, got h={h:g}, k={k}")
    n = len(x)
    directions = np.stack([random_directions(x.shape[1:], k, kind, seed + i) for i in range(n)])
    base = np.repeat(x[:, None], k, axis=1)
    plus = np.clip(base + h * directions, 0.0, 1.0).reshape(n * k, *x.shape[1:])
    minus = np.clip(base - h * directions, 0.0, 1.0).reshape(n * k, *x.shape[1:])
    repeated = np.repeat(labels, k)
    derivatives = (loss(plus, repeated) - loss(minus, repeated)).reshape(n, k) / (2 * h)
    scale = 1.0 if kind == "sign" else float(np.prod(x.shape[1:]))
    norms = np.sqrt(scale * np.mean(derivatives**2, axis=1))
    return derivatives, norms


def analytic(model, x: np.ndarray, labels: np.ndarray, batch: int = 64) -> np.ndarray:
    """The exact gradient of the cross-entropy of ``model``'s logits (a Keras model on [0,1]
    inputs) for the true labels, by TensorFlow: (n, *input shape)."""
    import tensorflow as tf  # loaded only when a gradient is taken

    grads = []
    for start in range(0, len(x), batch):
        xs = tf.constant(x[start : start + batch], dtype=tf.float32)
        ys = tf.constant(labels[start : start + batch], dtype=tf.int64)
        with tf.GradientTape() as tape:
            tape.watch(xs)
            logits = model(xs, training=False)
            losses = tf.keras.losses.sparse_categorical_crossentropy(ys, logits, from_logits=True)
        grads.append(tape.gradient(losses, xs).numpy())
    return np.concatenate(grads)


def summarise(
    name: str,
    estimator: str,
    directions: str,
    values: np.ndarray,
    norms: np.ndarray,
    step: float,
    h: float | None,
    seconds: float,
) -> GradientEstimate:
    """A GradientEstimate from the derivatives or components and the per-example norms."""
    return GradientEstimate(
        backend=name,
        estimator=estimator,
        directions=directions,
        h=h,
        h_steps=None if h is None or step <= 0 else h / step,
        step=step,
        n=len(norms),
        k=int(values.size // max(len(norms), 1)),
        norm_mean=float(np.mean(norms)),
        norm_median=float(np.median(norms)),
        norm_steps_mean=float(np.mean(norms) * step),
        zero_share=float(np.mean(values == 0)),
        seconds=round(seconds, 3),
        norms=[float(v) for v in norms],
        zero_shares=[float(v) for v in np.mean(values.reshape(len(norms), -1) == 0, axis=1)],
    )


def estimate_backend(
    backend: Backend,
    x: np.ndarray,
    labels: np.ndarray,
    h: float,
    step: float,
    k: int = 16,
    kind: str = "sign",
    seed: int = 0,
) -> GradientEstimate:
    """Finite differences with step h on a backend (its name, h and step recorded)."""
    start = time.perf_counter()
    derivatives, norms = finite_difference(backend_loss(backend), x, labels, h, k, kind, seed)
    seconds = time.perf_counter() - start
    return summarise(backend.name, "finite-difference", kind, derivatives, norms, step, h, seconds)


def estimate_analytic(
    name: str, model, x: np.ndarray, labels: np.ndarray, step: float
) -> GradientEstimate:
    """The exact gradient of a logits model (``name``: what it is, e.g. float, replica-int8)."""
    start = time.perf_counter()
    grads = analytic(model, x, labels)
    norms = np.sqrt((grads.reshape(len(x), -1).astype(np.float64) ** 2).sum(axis=1))
    seconds = time.perf_counter() - start
    return summarise(name, "analytic", "exact", grads, norms, step, None, seconds)
