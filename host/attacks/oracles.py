"""Oracles: any backend as the thing an attack queries.

A white-box oracle is a logits model on [0,1] inputs (gradient attacks need logits): for the
float backend the float Keras model, for an integer backend the differentiable replica of its
.tflite file (``host.attacks.replica``: TFLite Micro's forward values, straight-through
gradients), so gradient attacks run on the integer model itself while every success is still
judged on the real backend (``labels``). Behind pre-processing defenses (``float+median2``,
``engine-int8+median2``) it runs them, with BPDA's straight-through gradient
(``host.defenses.bpda``): the adaptive attack. A black-box
oracle wraps ``Backend.run`` (float, LiteRT, TFLite Micro or the device) for ART, counts every
query per example and stops the attack call when an example goes past the query budget; the
attacker then has the best adversarial query it made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from host.attacks.criteria import Criterion, Misclassification
from host.attacks.replica import replica_logits_model
from host.attacks.threat import step_of
from host.attacks.traced import TracedModel, traced_classifier
from host.backends import Backend
from host.defenses import bpda
from host.defenses.preprocessed import DefendedBackend
from host.errors import UserError


def logits_model(path: str | Path, input_range: float = 1.0):
    """A Keras model taking [0,1] images and returning the float model's logits.

    The float model ends with a softmax (a Dense with softmax activation, or a Softmax/Activation
    layer); the logits are the pre-activation, computed with the same weights. ``input_range`` is
    folded in: the returned model multiplies its input by it first.
    """
    import keras

    from host.zoo import keras_file  # imports keras, as above

    model = keras_file.load(path)
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "")
    if isinstance(last, keras.layers.Dense) and name == "softmax":
        body = keras.Model(model.inputs, last.input)
        head = keras.layers.Dense(last.units, activation=None, name="logits")
        head.build(last.input.shape)
        head.set_weights(last.get_weights())
    elif isinstance(last, keras.layers.Softmax) or name == "softmax":
        body = keras.Model(model.inputs, last.input)
        head = keras.layers.Identity(name="logits")
    else:
        raise UserError(f"{path}: the last layer is not a softmax; cannot find the logits")
    inputs = keras.Input(shape=model.input_shape[1:], name="x01")
    scaled = keras.layers.Rescaling(float(input_range))(inputs) if input_range != 1 else inputs
    return keras.Model(inputs, head(body(scaled)), name="logits")


class QueryBudgetExhausted(Exception):
    """An example used up its query budget (the attack call stops there)."""


class QueryBudget:
    """Per-example query counts and cap, rows attributed to the nearest registered original."""

    def __init__(self, cap: int | None) -> None:
        if cap is not None and cap <= 0:
            raise UserError(f"the query budget must be positive, got {cap}")
        self.cap = cap
        self._originals = np.zeros((0, 1), dtype=np.float32)
        self.counts = np.zeros(0, dtype=np.int64)

    def start(self, x: np.ndarray) -> None:
        """Register the originals of the next attack call; counts start at zero."""
        self._originals = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        self.counts = np.zeros(len(x), dtype=np.int64)

    def owners(self, rows: np.ndarray) -> np.ndarray:
        """Which original each queried row belongs to (nearest in L2)."""
        if len(self._originals) == 1:
            return np.zeros(len(rows), dtype=np.int64)
        flat = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        d = (flat**2).sum(1)[:, None] - 2 * flat @ self._originals.T
        return np.argmin(d + (self._originals**2).sum(1)[None, :], axis=1)

    def admit(self, owners: np.ndarray) -> None:
        """Count the rows; raise QueryBudgetExhausted when one goes past its example's cap."""
        counts = np.bincount(owners, minlength=len(self.counts))
        if self.cap is not None and np.any(self.counts + counts > self.cap):
            self.counts = np.minimum(self.counts + counts, self.cap)
            raise QueryBudgetExhausted
        self.counts += counts


class QueryListener(Protocol):
    """Told about an attack's queries as they happen (a progress bar, say)."""

    def started(self, examples: int) -> None:
        """An attack call begins on this many examples (their counts start at zero)."""

    def queried(self, counts: np.ndarray) -> None:
        """Queries so far per example of the current call (after each batch of queries)."""


class Oracle:
    """A backend as an attack target: scores, labels, counted queries, ART wrappers.

    While an attack runs, the oracle remembers for each example the adversarial query closest
    to the original (in the attack's norm): when the budget runs out mid-attack, that is what the
    attacker has.
    """

    def __init__(
        self,
        backend: Backend,
        nb_classes: int,
        float_path: str | Path | None = None,
        queries: int | None = None,
        model_path: str | Path | None = None,
    ) -> None:
        """``float_path``: the float model (a float oracle's gradients); ``model_path``: the
        integer backend's .tflite (an integer oracle's gradients, through its replica)."""
        self.backend = backend
        self.name = backend.name
        self.nb_classes = nb_classes
        self.integer = backend.precision != "float"
        self.step = step_of(backend)
        self.budget = QueryBudget(queries)
        self.listener: QueryListener | None = None
        self._float_path = float_path
        self.model_path = model_path
        self.defense = backend if isinstance(backend, DefendedBackend) else None
        self.traced: TracedModel | None = None  # the logits model's compiled functions
        self._whitebox: dict[str, Any] = {}
        self._keras: Callable[[np.ndarray], Any] | None = None
        self._x = np.zeros((0,), dtype=np.float32)
        self._criterion: Criterion = Misclassification([])
        self._order: float = 2
        self.best = self._x.copy()
        self.best_distance = np.zeros(0)

    @property
    def float_path(self) -> str | Path | None:
        """The float model (an integer oracle's too, when it has one: edge-only attacks)."""
        return self._float_path

    def scores(self, x01: np.ndarray) -> np.ndarray:
        """Float scores of the backend (dequantized outputs), not counted as attack queries."""
        x01 = np.asarray(x01, dtype=np.float32)
        if not self.integer and self._float_path is not None:
            return self._keras_scores(x01 if self.defense is None else self.defense.pixels(x01))
        raw = self.backend.run(x01)
        return self.backend.dequantize_output(raw).reshape(len(x01), -1)

    def _keras_scores(self, x01: np.ndarray) -> np.ndarray:
        """The float model as one traced function: the float backend's outputs without
        ``model.predict``'s ~0.1 s overhead per call (query attacks make thousands of calls)."""
        if self._keras is None:
            import tensorflow as tf

            from host.zoo import keras_file  # imports keras: only when the float model is used

            assert self._float_path is not None  # scores() calls this only with one
            model = keras_file.load(self._float_path)
            spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
            self._keras = tf.function(lambda q: model(q, training=False), input_signature=[spec])
        keras_model = self._keras
        q = self.backend.quantize(x01)  # pixels * input_range
        outputs = [keras_model(q[i : i + 256]).numpy() for i in range(0, len(q), 256)]
        return np.concatenate(outputs).reshape(len(x01), -1)

    def labels(self, x01: np.ndarray) -> np.ndarray:
        return self.scores(x01).argmax(axis=1)

    def start(self, x: np.ndarray, criterion: Criterion, order: float) -> None:
        """Begin an attack call on originals x; ``criterion`` says which queries are adversarial
        and ``order`` (a norm) which of them is closest."""
        self.budget.start(x)
        self._x = np.asarray(x, dtype=np.float32)
        self._criterion = criterion
        self._order = order
        self.best = self._x.copy()
        self.best_distance = np.full(len(x), np.inf)
        if self.listener is not None:
            self.listener.started(len(x))

    def counted_predict(self, x01: np.ndarray) -> np.ndarray:
        """The black-box query function: counts per example, remembers the best adversarial."""
        x01 = np.asarray(x01, dtype=np.float32)
        owners = self.budget.owners(x01)
        try:
            self.budget.admit(owners)
        finally:
            if self.listener is not None:
                self.listener.queried(self.budget.counts)
        out = self.scores(x01)
        hits = np.flatnonzero(self._criterion[owners].is_adversarial(out.argmax(axis=1)))
        for row in hits:
            owner = owners[row]
            delta = (x01[row] - self._x[owner]).ravel()
            distance = np.linalg.norm(delta, ord=self._order)
            if distance < self.best_distance[owner]:
                self.best_distance[owner] = distance
                self.best[owner] = x01[row]
        return out

    def blackbox(self):
        """ART's black-box classifier (NHWC) around the counted query function."""
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork

        return BlackBoxClassifierNeuralNetwork(
            self.counted_predict,
            input_shape=tuple(self.backend.input_shape),
            nb_classes=self.nb_classes,
            channels_first=False,
            clip_values=(0.0, 1.0),
        )

    def whitebox(self, loss: str = "cross_entropy"):
        """ART's differentiable classifier on the oracle's logits model (the float model, or an
        integer backend's replica; behind the oracle's defenses, BPDA), with ``loss``
        (host.attacks.traced.LOSSES) and every call traced; the traced functions are compiled
        once per oracle and shared by its classifiers."""
        if self.traced is None:
            model = self._logits_model()
            if self.defense is None:
                self.traced = TracedModel(model, self.nb_classes)
            else:
                self.traced = bpda.traced_model(model, self.nb_classes, self.defense.defenses)
        if loss not in self._whitebox:
            self._whitebox[loss] = traced_classifier(self.traced, loss)
        return self._whitebox[loss]

    def _logits_model(self):
        """The float logits model, or the replica of the integer model file."""
        if self.integer and self.model_path is not None:
            return replica_logits_model(self.model_path, self.backend.input_range)
        if not self.integer and self._float_path is not None:
            return logits_model(self._float_path, self.backend.input_range)
        raise UserError(
            f"oracle {self.name} has no gradients: it was given no "
            f"{'integer model file' if self.integer else 'float model'}"
        )
