"""ART's TensorFlow v2 classifier whose every estimator call runs a traced TensorFlow function.

ART's ``TensorFlowV2Classifier`` computes ``loss_gradient``, ``compute_loss`` and
``class_gradient`` eagerly, op by op. ``TracedModel`` compiles, once per logits model, one
``tf.function`` per job (logits, the class Jacobian, one class's gradient, and per loss the loss
gradient and the per-example losses), each with a fixed input signature (any batch size, no
retracing). ``traced_classifier`` gives ART a classifier that calls them for numpy arrays and
``tf.Tensor`` alike (ART's TF-v2 PGD passes tensors) and answers in the type it was given.

Losses: ``cross_entropy`` (softmax cross-entropy on the logits, as ART's PGD, FGSM and APGD-CE
use it) and ``difference_logits_ratio`` (APGD-DLR: ``-(z_y - max_{i != y} z_i) / (z_1 - z_3)``,
z sorted descending). ``calls`` counts the calls each traced function served
(``tests/test_gradients.py`` checks no gradient attack takes ART's eager path).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

LOSSES = ("cross_entropy", "difference_logits_ratio")


class TracedModel:
    """The compiled functions of one logits model (inputs in [0,1], NHWC)."""

    def __init__(self, model: Any, nb_classes: int) -> None:
        import tensorflow as tf

        self.model = model
        self.nb_classes = nb_classes
        self.calls: Counter[str] = Counter()
        images = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        onehot = tf.TensorSpec([None, nb_classes], tf.float32)
        labels = tf.TensorSpec([None], tf.int64)

        def logits(x):
            return model(x, training=False)

        def picked_gradient(x, picked):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = tf.gather(model(x, training=False), picked, axis=1, batch_dims=1)
            return tape.gradient(value, x)

        def jacobian(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = model(x, training=False)
            return tape.batch_jacobian(out, x)

        self._logits = tf.function(logits, input_signature=[images])
        self._picked = tf.function(picked_gradient, input_signature=[images, labels])
        self._jacobian = tf.function(jacobian, input_signature=[images])
        self._losses = {}
        self._gradients = {}
        for loss in LOSSES:
            per_example = _loss_function(loss)

            def losses(x, y, per_example=per_example):
                return per_example(y, model(x, training=False))

            def gradient(x, y, per_example=per_example):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    value = tf.reduce_mean(per_example(y, model(x, training=False)))
                return tape.gradient(value, x)

            self._losses[loss] = tf.function(losses, input_signature=[images, onehot])
            self._gradients[loss] = tf.function(gradient, input_signature=[images, onehot])

    def logits(self, x: Any) -> Any:
        self.calls["logits"] += 1
        return self._logits(x)

    def picked_gradient(self, x: Any, labels: Any) -> Any:
        """d logits[label] / dx, one label per example."""
        self.calls["class_gradient"] += 1
        return self._picked(x, labels)

    def jacobian(self, x: Any) -> Any:
        """d logits / dx for every class: (batch, classes, *input)."""
        self.calls["class_gradient"] += 1
        return self._jacobian(x)

    def losses(self, loss: str, x: Any, y: Any) -> Any:
        """The loss of each example."""
        self.calls["compute_loss"] += 1
        return self._losses[loss](x, y)

    def loss_gradient(self, loss: str, x: Any, y: Any) -> Any:
        """The gradient of the batch's mean loss."""
        self.calls["loss_gradient"] += 1
        return self._gradients[loss](x, y)


def _loss_function(loss: str):
    """Per-example loss of (one-hot labels, logits)."""
    import tensorflow as tf

    if loss == "cross_entropy":
        return lambda y, z: tf.keras.losses.categorical_crossentropy(y, z, from_logits=True)

    def difference_logits_ratio(y, z):
        top = tf.sort(z, axis=1, direction="DESCENDING")
        true = tf.reduce_sum(y * z, axis=1)
        others = tf.reduce_max(tf.where(y > 0, tf.constant(-np.inf, z.dtype), z), axis=1)
        return -(true - others) / (top[:, 0] - top[:, 2])

    return difference_logits_ratio


def traced_classifier(traced: TracedModel, loss: str = "cross_entropy"):
    """ART's TensorFlow v2 classifier, inputs in [0,1], ``loss`` its loss, every call traced."""
    import tensorflow as tf
    from art.estimators.classification import TensorFlowV2Classifier

    nb_classes = traced.nb_classes

    def tensor(x: Any, dtype=tf.float32):
        return tf.convert_to_tensor(x, dtype) if not tf.is_tensor(x) else tf.cast(x, dtype)

    def onehot(y: Any):
        y = tensor(y)
        return tf.one_hot(tf.cast(y, tf.int64), nb_classes) if y.shape.rank == 1 else y

    def like(value: Any, x: Any) -> Any:
        """``value`` in the type of ``x``: a tensor for a tensor, else numpy."""
        return value if tf.is_tensor(x) else value.numpy()

    class Classifier(TensorFlowV2Classifier):
        def predict(self, x, batch_size=128, training_mode=False, **kwargs):
            x = tensor(x)
            out = [traced.logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
            return np.concatenate(out) if out else np.zeros((0, nb_classes), np.float32)

        def loss_gradient(self, x, y, training_mode=False, **kwargs):
            return like(traced.loss_gradient(loss, tensor(x), onehot(y)), x)

        def compute_loss(self, x, y, reduction="none", training_mode=False, **kwargs):
            losses = traced.losses(loss, tensor(x), onehot(y)).numpy()
            return {"none": losses, "mean": losses.mean(), "sum": losses.sum()}[reduction]

        def class_gradient(self, x, label=None, training_mode=False, **kwargs):
            x_tf = tensor(x)
            if label is None:
                return traced.jacobian(x_tf).numpy()
            picked = np.broadcast_to(np.asarray(label, dtype=np.int64), (int(x_tf.shape[0]),))
            return traced.picked_gradient(x_tf, tf.constant(picked)).numpy()[:, np.newaxis]

    return Classifier(
        model=traced.model,
        nb_classes=nb_classes,
        input_shape=tuple(traced.model.input_shape[1:]),
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
