"""Real TinyML architectures for the engine's model coverage tests (tests/test_model_coverage.py).

Keras builders with batch size 1 and seeded random weights (byte-exactness with TFLite Micro does
not need trained weights), their real inputs as floats (CIFAR-10, VWW 96x96, KWS MFCC) and their
conversions (int8 or int16x8, int or float I/O, per-channel or per-tensor weights), cached under
build/engine-tests/ as every engine test's models.

The anomaly-detection autoencoder has no machine-sound data here: it reads real KWS MFCC
features, every example's 490 values laid end to end and cut into windows of 640.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from engine_reference import N_REAL, cached_conversion, calibration_images, clear_keras_names

from host import data

# The stored KWS features are int8 MFCCs quantized as the MLPerf KWS model's input
# (../shared/models/mlperf_tiny/kws_ref_model.tflite): these give them back as floats.
KWS_SCALE = 0.5847029
KWS_ZERO_POINT = 83
AUTOENCODER_INPUT = 640
N_CALIBRATION = 100
SEED = 12


@dataclass(frozen=True)
class Architecture:
    """One architecture: how to build it, the data set of its real inputs, and the ops that
    make it what it is (each must be in every conversion)."""

    name: str
    build: Callable
    dataset: str  # "cifar10", "vww", "kws" or "kws-640" (KWS features in windows of 640)
    ops: frozenset[str]


def _keras_layers():
    import keras

    return keras, keras.layers


def _layers():
    """keras and its layers, the random weights seeded."""
    keras, layers = _keras_layers()
    keras.utils.set_random_seed(SEED)
    return keras, layers


def resnet8():
    """MLPerf Tiny image classification: ResNet-8 on CIFAR-10."""
    from host.zoo import architectures

    _layers()
    return architectures.resnet8()


def mobilenet_v1_025():
    """MLPerf Tiny visual wake words: MobileNetV1 0.25 at 96x96."""
    from host.zoo import architectures

    _layers()
    return architectures.mobilenet_v1_025()


def ds_cnn():
    """MLPerf Tiny keyword spotting DS-CNN: 49x10x1 MFCC, conv 10x4 stride 2, four depthwise
    separable blocks of 64, average pooling, dense 12."""
    keras, layers = _layers()
    inputs = keras.Input((49, 10, 1), batch_size=1)
    x = layers.Conv2D(64, (10, 4), strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(4):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(64, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(12, activation="softmax")(x), name="ds_cnn")


def autoencoder():
    """MLPerf Tiny anomaly detection: the fully connected autoencoder 640 -> 128x4 -> 8 ->
    128x4 -> 640, each hidden layer Dense + BatchNormalization + ReLU."""
    keras, layers = _layers()
    inputs = keras.Input((AUTOENCODER_INPUT,), batch_size=1)
    x = inputs
    for units in [128] * 4 + [8] + [128] * 4:
        x = layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(x)))
    outputs = layers.Dense(AUTOENCODER_INPUT)(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def mobilenet_v2_035():
    """keras.applications' MobileNetV2, alpha 0.35 at 96x96, two classes."""
    keras, _ = _layers()
    inputs = keras.Input((96, 96, 3), batch_size=1)
    return keras.applications.MobileNetV2(alpha=0.35, input_tensor=inputs, weights=None, classes=2)


def _inverted_residual(x, filters: int, kernel: int, strides: int, expand: int):
    """MobileNetV2 / EfficientNet-Lite MBConv: expand 1x1, depthwise, project 1x1 (RELU6, no
    squeeze-excite), a residual add when the shape stays."""
    _, layers = _keras_layers()
    y = x
    if expand != 1:
        y = layers.Conv2D(x.shape[-1] * expand, 1, use_bias=False)(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
    y = layers.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False)(y)
    y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(filters, 1, use_bias=False)(y))
    if strides == 1 and x.shape[-1] == filters:
        y = layers.Add()([x, y])
    return y


def _stem(inputs, filters: int):
    _, layers = _keras_layers()
    x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(inputs)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def efficientnet_lite():
    """An EfficientNet-Lite-like model at 96x96: MBConv blocks (3x3 and 5x5 depthwise, RELU6,
    residual adds, no squeeze-excite), a 1x1 head, average pooling, dense 2."""
    keras, layers = _layers()
    inputs = keras.Input((96, 96, 3), batch_size=1)
    x = _stem(inputs, 16)
    # (expansion, filters, repeats, strides, kernel) as EfficientNet-Lite's stages, narrowed
    for expand, filters, repeats, strides, kernel in (
        (1, 8, 1, 1, 3),
        (4, 16, 2, 2, 3),
        (4, 24, 2, 2, 5),
        (4, 40, 2, 2, 3),
        (4, 48, 1, 1, 5),
    ):
        for repeat in range(repeats):
            x = _inverted_residual(x, filters, kernel, strides if repeat == 0 else 1, expand)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(layers.Conv2D(128, 1, use_bias=False)(x)))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x), name="efficientnet_lite")


def fomo_detector():
    """A FOMO/YOLO-like detector: a MobileNetV2-like trunk at 96x96, the 6x6 map upsampled
    (nearest neighbour) and concatenated with the 12x12 one, a 1x1 conv to 3 per-cell class maps,
    sigmoid."""
    keras, layers = _layers()
    inputs = keras.Input((96, 96, 3), batch_size=1)
    x = _inverted_residual(_stem(inputs, 16), 8, 3, 1, 1)  # 48x48
    x = _inverted_residual(x, 16, 3, 2, 4)  # 24x24
    x = _inverted_residual(x, 16, 3, 1, 4)
    shallow = _inverted_residual(x, 24, 3, 2, 4)  # 12x12
    x = _inverted_residual(shallow, 32, 3, 2, 4)  # 6x6
    x = _inverted_residual(x, 32, 3, 1, 4)
    x = layers.Resizing(12, 12, interpolation="nearest")(x)  # see ARCHITECTURES
    x = layers.Concatenate()([x, shallow])
    x = layers.Conv2D(16, 1, activation="relu")(x)
    outputs = layers.Conv2D(3, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="fomo_detector")


def conv1d_kws():
    """A 1-D convolutional keyword spotter over the 49 MFCC frames (10 coefficients each)."""
    keras, layers = _layers()
    inputs = keras.Input((49, 10), batch_size=1)
    x = layers.Conv1D(32, 5, strides=2, activation="relu")(inputs)
    x = layers.Conv1D(48, 3, activation="relu")(x)
    x = layers.Conv1D(64, 3, strides=2, activation="relu")(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(12, activation="softmax")(x), name="conv1d_kws")


def mlp():
    """A multilayer perceptron on the flattened 49x10 MFCC."""
    keras, layers = _layers()
    inputs = keras.Input((49, 10), batch_size=1)
    x = layers.Flatten()(inputs)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(12, activation="softmax")(x), name="mlp")


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("resnet8", resnet8, "cifar10", frozenset({"CONV_2D", "ADD"})),
        Architecture("mobilenet-v1-025", mobilenet_v1_025, "vww", frozenset({"DEPTHWISE_CONV_2D"})),
        Architecture("ds-cnn", ds_cnn, "kws", frozenset({"DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"})),
        Architecture("autoencoder", autoencoder, "kws-640", frozenset({"FULLY_CONNECTED"})),
        Architecture("mobilenet-v2-035", mobilenet_v2_035, "vww", frozenset({"ADD", "MEAN"})),
        Architecture("efficientnet-lite", efficientnet_lite, "vww", frozenset({"ADD", "MEAN"})),
        Architecture(
            "fomo-detector",
            fomo_detector,
            "vww",
            # Keras 3's UpSampling2D converts to RESHAPE + TILE (the wheel has no TILE
            # kernel): the detector upsamples with Resizing, as exported YOLO heads do
            frozenset({"CONCATENATION", "RESIZE_NEAREST_NEIGHBOR", "LOGISTIC"}),
        ),
        Architecture("conv1d-kws", conv1d_kws, "kws", frozenset({"CONV_2D"})),
        Architecture("mlp", mlp, "kws", frozenset({"FULLY_CONNECTED"})),
    )
}


def real_floats(dataset: str, n: int, start: int = 0) -> np.ndarray:
    """``n`` real examples from ``start`` on, as the float model's inputs (pixels in [0, 1],
    MFCCs dequantized)."""
    if dataset == "cifar10":
        pixels = np.concatenate([data.load("cifar10", "test").x, data.load("cifar10", "train").x])
        return (pixels[start : start + n] / 255.0).astype(np.float32)
    if dataset == "vww":
        return (data.load("vww", "eval").x[start : start + n] / 255.0).astype(np.float32)
    features = (data.load("kws", "eval").x.astype(np.float32) - KWS_ZERO_POINT) * KWS_SCALE
    if dataset == "kws":
        return features[start : start + n]
    stream = features.reshape(-1)  # "kws-640": the examples end to end, in windows of 640
    windows = stream[: len(stream) // AUTOENCODER_INPUT * AUTOENCODER_INPUT]
    return windows.reshape(-1, AUTOENCODER_INPUT)[start : start + n]


def calibration(arch: Architecture) -> np.ndarray:
    """Calibration examples, none of them among the tested real inputs."""
    if arch.dataset == "cifar10":
        return (calibration_images(N_CALIBRATION) / 255.0).astype(np.float32)
    return real_floats(arch.dataset, N_CALIBRATION, start=N_REAL)


def model_inputs(floats: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Real floats shaped as the model's input (the 1-D KWS models drop the channel axis)."""
    return floats.reshape(len(floats), *shape)


def _reinitialize(model) -> None:
    """Seeded He-normal kernels, small biases and mildly varied batch normalization: a random
    deep network keeps its activations' scale through every layer (Keras' default Glorot
    kernels shrink them to ~1e-16 over MobileNet's 27 layers) and per-channel scales differ."""
    from keras import layers

    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = (w.shape for w in weights)
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma),
                    rng.normal(0.0, 0.1, beta),
                    rng.normal(0.0, 0.1, mean),
                    rng.uniform(0.5, 1.5, variance),
                ]
            )
        elif isinstance(
            layer, (layers.Conv1D, layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)
        ):
            shape = weights[0].shape
            depthwise = isinstance(layer, layers.DepthwiseConv2D)
            fan_in = int(np.prod(shape[:-2] if depthwise else shape[:-1]))
            kernel = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            layer.set_weights([kernel] + [rng.normal(0.0, 0.05, w.shape) for w in weights[1:]])


def _tame_logits(model, images: np.ndarray) -> None:
    """Spread a final softmax dense layer's logits over +-8 on ``images`` (each class centred
    on its mean): random weights give logits so wide that TFLite Micro's SOFTMAX refuses their
    scale (its multiplier overflows and the wheel aborts), or so alike across inputs that every
    input gives one quantized output."""
    import keras

    last = model.layers[-1]
    if getattr(last, "activation", None) is not keras.activations.softmax:
        return
    features = keras.Model(model.inputs, last.input).predict(images, batch_size=1, verbose=0)
    kernel, bias = last.get_weights()
    logits = features @ kernel + bias
    centre = logits.mean(axis=0)
    factor = 8.0 / float(np.max(np.abs(logits - centre)))
    last.set_weights([kernel * factor, (bias - centre) * factor])


def variant_key(arch: str, precision: str, float_io: bool, per_channel: bool) -> str:
    """The cache key of a conversion: the variant and this file (builders and calibration)."""
    io = "float-io" if float_io else "int-io"
    weights = "per-channel" if per_channel else "per-tensor"
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return f"coverage-{arch}-{precision}-{io}-{weights}-{source}"


def converted(arch: str, precision: str, float_io: bool = False, per_channel: bool = True) -> Path:
    """The converted model (cached under build/engine-tests/)."""

    def make() -> bytes:
        from host import quantize  # TensorFlow loads only when a model must be converted

        entry = ARCHITECTURES[arch]
        clear_keras_names()
        model = entry.build()
        shape = tuple(model.inputs[0].shape[1:])
        images = model_inputs(calibration(entry), shape)
        _reinitialize(model)
        _tame_logits(model, images)
        return quantize.convert(
            model, images, precision, float_io=float_io, per_channel=per_channel
        )

    return cached_conversion(variant_key(arch, precision, float_io, per_channel), make)
