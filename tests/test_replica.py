"""The differentiable replica of an integer .tflite model (host.attacks.replica).

Its forward pass must give TFLite Micro's predictions and pre-softmax integers on real images
(compared with the engine for top-1 and with the model cut before its SOFTMAX on the
tflite-micro wheel for the logits); its gradients must be straight-through (finite, non-zero);
a model with an op it does not know is refused with a UserError naming the op.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from host import data, zoo
from host.attacks.replica import SUPPORTED, replica_fidelity, replica_logits_model
from host.backends import get_backend
from host.errors import UserError
from host.tflite import (
    check_model_bytes,
    input_quantization,
    model_bytes,
    op_name,
    read_model_bytes,
)

MODEL = "cifar10-resnet8"


def images(dataset: str, n: int) -> np.ndarray:
    return data.load(dataset, "test").take(n).x.astype(np.float32) / np.float32(255.0)


@pytest.mark.parametrize("precision", ["int8", "int16"])
def test_replica_follows_tflite_micro_on_cifar10(data_dir, precision) -> None:
    x = images("cifar10", 200)
    backend = get_backend(MODEL, f"engine-{precision}")
    fidelity = replica_fidelity(zoo.model_file(MODEL, precision), x, backend)
    assert fidelity.n == 200
    assert fidelity.top1_agreement >= 0.99
    assert fidelity.within_one_step >= 0.9  # measured: 1.0, every logit exact


def test_replica_follows_tflite_micro_on_coffee(data_dir) -> None:
    model = "coffee-cnn"
    backend = get_backend(model, "engine-int8")
    x = images(zoo.spec(model).dataset, 3)
    fidelity = replica_fidelity(zoo.model_file(model, "int8"), x, backend)
    assert fidelity.top1_agreement == 1.0
    assert fidelity.within_one_step == 1.0


def test_replica_gradients_are_straight_through(data_dir) -> None:
    import tensorflow as tf

    model = replica_logits_model(zoo.model_file(MODEL, "int8"))
    x = tf.constant(images("cifar10", 4))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        picked = tf.reduce_sum(tf.gather(logits, tf.argmax(logits, axis=1), batch_dims=1))
    gradient = tape.gradient(picked, x).numpy()
    assert logits.dtype == tf.float32 and logits.shape == (4, 10)
    assert np.all(np.isfinite(gradient))
    # Rounding would give zero gradients everywhere; straight-through gives most pixels one.
    assert np.mean(gradient != 0) > 0.5


def test_replica_refuses_an_unknown_op(tmp_path) -> None:
    """The SOFTMAX of the shipped model turned into a LOGISTIC: the error names it."""
    model = check_model_bytes(read_model_bytes(zoo.model_file(MODEL, "int8")))
    softmax = next(op for op in model.subgraphs[0].operators if op_name(model, op) == "SOFTMAX")
    code = model.operatorCodes[softmax.opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.LOGISTIC
    path = tmp_path / "logistic.tflite"
    path.write_bytes(model_bytes(model))
    with pytest.raises(UserError, match=r"LOGISTIC\) is not supported by the replica") as error:
        replica_logits_model(path)
    assert all(name in str(error.value) for name in SUPPORTED)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, precision",
    [
        ("mlperf-resnet8", "int8"),
        ("mlperf-resnet8", "int16"),
        ("coffee-cnn", "int16"),
        ("mlperf-vww", "int8"),
        ("mlperf-vww", "int16"),
        ("mlperf-kws", "int8"),
    ],
)
def test_replica_follows_tflite_micro_on_every_zoo_task(data_dir, model, precision) -> None:
    """The other zoo models on 50 examples (measured: all exact); kws from its int8 features,
    mapped back to the inputs that quantize to them."""
    entry = zoo.spec(model)
    dataset = data.load(entry.dataset, entry.eval_split).take(50)
    path = zoo.model_file(model, precision)
    if dataset.x.dtype == np.uint8:
        x = dataset.x.astype(np.float32) / np.float32(255.0)
    else:
        _, scale, zero_point = input_quantization(read_model_bytes(path))
        x = (dataset.x.astype(np.float32) - zero_point) * np.float32(scale / entry.input_range)
    backend = get_backend(model, f"engine-{precision}")
    fidelity = replica_fidelity(path, x, backend, entry.input_range)
    assert fidelity.top1_agreement >= 0.99
    assert fidelity.within_one_step >= 0.9
