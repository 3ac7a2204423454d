"""Adaptive gradient attacks through pre-processing defenses: BPDA, and EOT for random ones.

Athalye et al.'s Backward Pass Differentiable Approximation: the defended logits model runs the
real defense g in the forward pass (``Preprocessor.pixels`` through ``tf.numpy_function``) and
takes its derivative as the identity in the backward pass: ``x + stop_gradient(g(x) - x)``.
For a random defense, Expectation over Transformation: every gradient is the mean of
``samples`` gradients, each through a fresh draw. An oracle ``float+median2`` gives its gradient
attacks this model (``host.attacks.oracles.Oracle.whitebox``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from host.attacks.traced import TracedModel
from host.defenses.base import Preprocessor
from host.defenses.preprocessed import is_detector

EOT_SAMPLES = 8  # draws averaged per gradient of a random defense


def transforming(defenses: Sequence[Preprocessor]) -> tuple[Preprocessor, ...]:
    """The defenses that change the input (a detector does not)."""
    return tuple(d for d in defenses if not is_detector(d))


def defended_logits_model(logits_model: Any, defenses: Sequence[Preprocessor]) -> Any:
    """A Keras model: the defenses (forward: real, backward: identity), then ``logits_model``."""
    import keras
    import tensorflow as tf

    steps = transforming(defenses)
    if not steps:
        return logits_model

    def forward(x: np.ndarray) -> np.ndarray:
        for defense in steps:
            x = defense.pixels(x)
        return np.asarray(x, dtype=np.float32)

    class StraightThrough(keras.layers.Layer):
        """The defenses, with the identity as their derivative."""

        def call(self, x):
            g = tf.numpy_function(forward, [x], tf.float32, stateful=True)
            g = tf.reshape(g, tf.shape(x))
            return x + tf.stop_gradient(g - x)

        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

    name = "_".join(d.name for d in steps)  # a Keras name has no "+"
    inputs = keras.Input(shape=logits_model.input_shape[1:], name="x01")
    defended = StraightThrough(name=f"bpda_{name}")(inputs)
    return keras.Model(inputs, logits_model(defended), name=f"logits_{name}")


class EotTracedModel(TracedModel):
    """A traced model whose gradients are means over ``samples`` draws of a random defense."""

    def __init__(self, model: Any, nb_classes: int, samples: int = EOT_SAMPLES) -> None:
        super().__init__(model, nb_classes)
        self.samples = samples

    def _mean(self, gradient: Any, *args: Any) -> Any:
        total = gradient(*args)
        for _ in range(self.samples - 1):
            total = total + gradient(*args)
        return total / self.samples

    def picked_gradient(self, x: Any, labels: Any) -> Any:
        return self._mean(super().picked_gradient, x, labels)

    def jacobian(self, x: Any) -> Any:
        return self._mean(super().jacobian, x)

    def loss_gradient(self, loss: str, x: Any, y: Any) -> Any:
        return self._mean(super().loss_gradient, loss, x, y)


def traced_model(
    logits_model: Any, nb_classes: int, defenses: Sequence[Preprocessor], samples: int = EOT_SAMPLES
) -> TracedModel:
    """The traced functions of the float model behind ``defenses``: BPDA, and EOT when one of
    them is random."""
    model = defended_logits_model(logits_model, defenses)
    if any(d.random for d in transforming(defenses)):
        return EotTracedModel(model, nb_classes, samples)
    return TracedModel(model, nb_classes)
