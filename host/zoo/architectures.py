"""Keras architectures of the model zoo, built with batch size 1 for TFLite conversion.

A fixed batch size keeps the converted graph to a small op set (a free batch turns Flatten into
SHAPE/STRIDED_SLICE/PACK/RESHAPE). Training uses the same layers with a free batch size:
``build(name, batch_size=None)``; ``rebatch`` copies trained weights into a batch-1 twin.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers, regularizers

ArchitectureBuilder = Callable[..., keras.Model]


def resnet8(batch_size: int | None = 1, num_classes: int = 10) -> keras.Model:
    """MLPerf Tiny ResNet-8 for CIFAR-10 (32x32x3 input, three residual stacks 16/32/64)."""
    reg = regularizers.l2(1e-4)

    def conv(x, filters, kernel, strides=1):
        return layers.Conv2D(
            filters,
            kernel,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=reg,
        )(x)

    inputs = keras.Input((32, 32, 3), batch_size=batch_size)
    x = layers.ReLU()(layers.BatchNormalization()(conv(inputs, 16, 3)))
    for filters, strides in ((16, 1), (32, 2), (64, 2)):
        y = layers.ReLU()(layers.BatchNormalization()(conv(x, filters, 3, strides)))
        y = layers.BatchNormalization()(conv(y, filters, 3))
        shortcut = x if strides == 1 else conv(x, filters, 1, strides)
        x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="resnet8")


def mobilenet_v1_025(batch_size: int | None = 1, num_classes: int = 2) -> keras.Model:
    """MobileNetV1 width 0.25 at 96x96x3, the MLPerf Tiny Visual Wake Words model."""

    def block(x, filters, strides):
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    inputs = keras.Input((96, 96, 3), batch_size=batch_size)
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    plan = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)]
    plan += [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for filters, strides in plan:
        x = block(x, filters, strides)
    x = layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v1_025")


def coffee_cnn(batch_size: int | None = 1, num_classes: int = 4) -> keras.Model:
    """The seed paper's plain CNN for coffee leaves (224x224x3, 4 classes)."""
    inputs = keras.Input((224, 224, 3), batch_size=batch_size)
    x = layers.Conv2D(32, 8, strides=4, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, strides=2, activation="relu")(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="coffee_cnn")


ARCHITECTURES: dict[str, ArchitectureBuilder] = {
    "resnet8": resnet8,
    "mobilenet_v1_025": mobilenet_v1_025,
    "coffee_cnn": coffee_cnn,
}


def rebatch(model: keras.Model, architecture: str, batch_size: int | None = 1) -> keras.Model:
    """The same architecture with another fixed batch size, carrying the trained weights."""
    twin = ARCHITECTURES[architecture](batch_size=batch_size)
    twin.set_weights(model.get_weights())
    return twin
