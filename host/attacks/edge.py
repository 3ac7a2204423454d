"""Edge-only (divergence) attacks: inputs the integer model gets wrong, the float model right.

DIVA (in the spirit of Hao et al., MLSys 2022, "A Tale of Two Models") ascends, inside the eps
ball, the gap between the float model's and the integer model's confidence in the true class:
``L(x) = s(float(x))[y] - c * s(replica(x))[y]``, ``s`` the softmax (the paper's) or the log
softmax (``confidence``, the default), where the replica is the differentiable copy of the
integer model's .tflite (``host.attacks.replica``). Sign steps
(Linf) or normalised gradient steps (L2) of ``step_ratio * eps``, projected into the ball and
[0,1], ``max_iter`` of them, all in one traced TensorFlow function. Per example it keeps the
iterate, seen on the integer model's input lattice, with the largest L among those the replica
gets wrong while the float model gets right (else the last iterate). As for every attack, the
success the records show is the real integer oracle's (``Attack._result``); whether the float
model still classifies the input correctly is the float backend's outcome in the records
(``host.report.edge``: the edge-only rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from host.attacks.base import FixedEpsilonAttack, GradientAttack
from host.attacks.oracles import Oracle, logits_model
from host.attacks.params import POSITIVE, choice, count
from host.attacks.replica import input_on_lattice, replica_logits_model
from host.errors import UserError

# The confidence in the true class the loss compares: the paper's probabilities, or their logs
# (the default: on cifar10-resnet8 vs engine-int8, n=50, edge-only on 8/13/14 of 45 inputs at
# 1/2/4 int8 steps, against 1/4/13 with probabilities, which saturate near 1).
CONFIDENCES = ("softmax", "log_softmax")


class DIVA(GradientAttack, FixedEpsilonAttack):
    """Divergence attack: the float model right, the integer model wrong (mode direct)."""

    name = "diva"
    norms = ("linf", "l2")
    edge_only = True
    defaults = {
        "max_iter": 20,
        "step_ratio": 0.1,
        "c": 1.0,
        "confidence": "log_softmax",
        "batch_size": 128,
    }
    limits = {
        "max_iter": count(),
        "step_ratio": POSITIVE,
        "c": POSITIVE,
        "confidence": choice(*CONFIDENCES),
        "batch_size": count(),
    }

    def __init__(self, norm: str | None = None, **params: Any) -> None:
        super().__init__(norm, **params)
        self._ascent: tuple[Oracle, DivergenceAscent] | None = None

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        if self._ascent is None or self._ascent[0] is not oracle:
            models = _two_models(oracle)
            self._ascent = (oracle, DivergenceAscent(*models, self.norm, self.params["confidence"]))
        ascent = self._ascent[1]
        return ascent.bound(eps, self.params)


def _two_models(oracle: Oracle) -> tuple[Any, Any, Any]:
    """(float logits model, replica logits model, the map onto its input lattice) of an integer
    oracle."""
    if not oracle.integer:
        raise UserError(
            f"attack diva needs an integer oracle (mode direct, e.g. engine-int8), "
            f"not {oracle.name}"
        )
    if oracle.defense is not None:
        raise UserError(f"attack diva does not run through defenses (oracle {oracle.name})")
    float_path, int_path = oracle.float_path, oracle.model_path
    if float_path is None or int_path is None:
        raise UserError(
            f"attack diva needs the float model and the integer model file of {oracle.name}"
        )
    input_range = oracle.backend.input_range
    return (
        logits_model(float_path, input_range),
        replica_logits_model(int_path, input_range),
        input_on_lattice(int_path, input_range),
    )


class DivergenceAscent:
    """The traced ascent of one (float model, replica) pair; ``bound`` fixes eps and parameters
    and gives the object ``FixedEpsilonAttack`` calls ``generate(x, y)`` on."""

    def __init__(
        self, float_model: Any, replica: Any, on_lattice: Any, norm: str, confidence: str
    ) -> None:
        import tensorflow as tf

        normalise = tf.nn.softmax if confidence == "softmax" else tf.nn.log_softmax

        images = tf.TensorSpec([None, *float_model.input_shape[1:]], tf.float32)
        scalar = tf.TensorSpec([], tf.float32)
        spec = [images, tf.TensorSpec([None], tf.int64), scalar, scalar, scalar]
        spec.append(tf.TensorSpec([], tf.int32))

        def confidences(x, y):
            pf = normalise(float_model(x, training=False))
            pr = normalise(replica(x, training=False))
            return pf, pr, tf.gather(pf, y, batch_dims=1), tf.gather(pr, y, batch_dims=1)

        def step_of(gradient, step):
            if norm == "linf":
                return step * tf.sign(gradient)
            flat = tf.reshape(gradient, [tf.shape(gradient)[0], -1])
            size = tf.norm(flat, axis=1) + 1e-12
            return step * gradient / tf.reshape(size, [-1, *[1] * (len(gradient.shape) - 1)])

        def project(x_adv, x, eps):
            delta = x_adv - x
            if norm == "linf":
                delta = tf.clip_by_value(delta, -eps, eps)
            else:
                flat = tf.reshape(delta, [tf.shape(delta)[0], -1])
                factor = tf.minimum(1.0, eps / (tf.norm(flat, axis=1) + 1e-12))
                delta = delta * tf.reshape(factor, [-1, *[1] * (len(delta.shape) - 1)])
            return tf.clip_by_value(x + delta, 0.0, 1.0)

        def ascend(x, y, eps, step, c, iterations):
            def body(i, x_adv, best, best_loss):
                with tf.GradientTape() as tape:
                    tape.watch(x_adv)
                    _, _, f, r = confidences(x_adv, y)
                    total = tf.reduce_sum(f - c * r)
                gradient = tape.gradient(total, x_adv)
                x_adv = project(x_adv + step_of(gradient, step), x, eps)
                pf, pr, f, r = confidences(on_lattice(x_adv), y)
                edge = (tf.argmax(pf, axis=1) == y) & (tf.argmax(pr, axis=1) != y)
                better = edge & (f - c * r > best_loss)
                best = tf.where(_rows(better, x), x_adv, best)
                return i + 1, x_adv, best, tf.where(better, f - c * r, best_loss)

            start = (tf.constant(0), x, x, tf.fill([tf.shape(x)[0]], -np.inf))
            _, x_adv, best, best_loss = tf.while_loop(lambda i, *_: i < iterations, body, start)
            return tf.where(_rows(best_loss > -np.inf, x), best, x_adv)

        self._ascend = tf.function(ascend, input_signature=spec, autograph=False)

    def bound(self, eps: float, params: dict[str, Any]) -> BoundAscent:
        return BoundAscent(self, eps, params)

    def run(self, x: np.ndarray, y: np.ndarray, eps: float, params: dict[str, Any]) -> np.ndarray:
        """The best iterate of each example (numpy in, numpy out), ``batch_size`` at a time."""
        size = params["batch_size"]
        out = [
            self._ascend(
                np.asarray(x[i : i + size], np.float32),
                np.asarray(y[i : i + size], np.int64),
                np.float32(eps),
                np.float32(eps * params["step_ratio"]),
                np.float32(params["c"]),
                np.int32(params["max_iter"]),
            ).numpy()
            for i in range(0, len(x), size)
        ]
        return np.concatenate(out) if out else np.asarray(x, np.float32)


class BoundAscent:
    """One eps of a DivergenceAscent, called as ``GradientAttack.generate`` calls ART's."""

    def __init__(self, ascent: DivergenceAscent, eps: float, params: dict[str, Any]) -> None:
        self.ascent, self.eps, self.params = ascent, eps, params

    def generate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``y``: one-hot labels."""
        return self.ascent.run(x, np.asarray(y).argmax(axis=1), self.eps, self.params)


def _rows(mask: Any, like: Any) -> Any:
    """A per-example mask broadcastable against images like ``like``."""
    import tensorflow as tf

    return tf.reshape(mask, [-1, *[1] * (len(like.shape) - 1)])
