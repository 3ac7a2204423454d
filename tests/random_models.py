"""Seeded random Keras models for the engine's property test (tests/test_random_models.py).

``spec(seed, index)`` draws one small batch-1 network: an input (an image H,W 4..40 with C 1..8
channels, a sequence for Conv1D, or a flat vector), a few layers from the ops the engine runs
or is meant to run, a head, and how to quantize it (int8 or int16x8, int or float32 I/O,
per-channel or per-tensor weights). ``build(spec)`` makes the Keras model; the same (seed,
index) always gives the same layers and weights. Shapes are tracked while drawing so that every
model is valid, and channels stay small so that the wheel runs it quickly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

Layer = tuple  # (kind, parameters...), see _apply


@dataclass
class Spec:
    """One generated model: what to build and how to convert it."""

    seed: int
    index: int
    input_shape: tuple[int, ...]
    layers: list[Layer] = field(default_factory=list)
    precision: str = "int8"
    float_io: bool = False
    per_channel: bool = True

    @property
    def name(self) -> str:
        return f"seed {self.seed} model {self.index}"

    @property
    def key(self) -> str:
        return f"random-{self.seed}-{self.index}"

    def describe(self) -> list[str]:
        return [" ".join(map(str, layer)) for layer in self.layers]


def spec(seed: int, index: int) -> Spec:
    """Model ``index`` of ``seed``: reproducible, independent of every other index."""
    rng = random.Random(f"tinyrobust-random-model-{seed}-{index}")
    kind = rng.choices(["image", "sequence", "vector"], weights=[6, 2, 1])[0]
    if kind == "image":
        shape: tuple[int, ...] = (rng.randint(4, 40), rng.randint(4, 40), rng.randint(1, 8))
    elif kind == "sequence":
        shape = (rng.randint(8, 64), rng.randint(1, 8))
    else:
        shape = (rng.randint(4, 64),)
    s = Spec(seed, index, shape)
    s.precision = rng.choice(["int8", "int16"])
    s.float_io = rng.random() < 0.3
    s.per_channel = rng.random() < 0.7
    current = shape
    for _ in range(rng.randint(1, 5)):
        layer = _draw(rng, current)
        if layer is None or (s.precision == "int16" and layer in INT16_UNCONVERTIBLE):
            continue  # the converter has no int16x8 PRELU or HARD_SWISH
        s.layers.append(layer)
        current = _shape_after(layer, current)
    s.layers.extend(_head(rng, current, s.precision))
    if s.precision == "int16" and any(layer[0] in ("depthwise", "separable") for layer in s.layers):
        s.per_channel = True  # the converter fails on per-tensor int16x8 depthwise convolutions
    return s


# Drawing layers: each returns a layer valid on the current shape, or None.


def _draw(rng: random.Random, shape: tuple[int, ...]) -> Layer | None:
    if len(shape) == 3:
        return _draw_image(rng, *shape)
    if len(shape) == 2:
        return _draw_sequence(rng, *shape)
    return _draw_vector(rng, shape[0])


INT16_UNCONVERTIBLE = {("activation", "prelu"), ("activation", "hard_swish")}
ACTIVATIONS = ["relu", "relu6", "sigmoid", "tanh", "hard_swish", "leaky_relu", "prelu"]


def _draw_image(rng: random.Random, h: int, w: int, c: int) -> Layer | None:
    small = min(h, w)
    choice = rng.choices(
        [
            "conv", "depthwise", "separable", "pool", "pad", "residual", "broadcast", "constant",
            "concat", "activation", "upsample", "crop", "permute", "transpose-conv", "resize",
        ],
        weights=[6, 3, 2, 3, 1, 3, 2, 1, 2, 3, 1, 1, 1, 1, 1],
    )[0]  # fmt: skip
    act = rng.choice([None, None, "relu", "relu6"])
    if choice == "conv":
        k = rng.randint(1, min(5, small))
        stride = rng.choice([1, 1, 2]) if small >= 4 else 1
        dilation = rng.choice([1, 2]) if stride == 1 and small >= 2 * k else 1
        padding = rng.choice(["same", "valid"])
        return ("conv", rng.randint(1, 8), k, stride, dilation, padding, act)
    if choice in ("depthwise", "separable"):
        k = rng.randint(1, min(3, small))
        stride = rng.choice([1, 2]) if small >= 4 else 1
        padding = rng.choice(["same", "valid"])
        if choice == "depthwise":
            return ("depthwise", k, stride, rng.choice([1, 1, 2]), padding, act)
        return ("separable", rng.randint(1, 8), k, stride, padding, act)
    if choice == "pool" and small >= 2:
        size = rng.randint(2, min(3, small))
        return (rng.choice(["maxpool", "avgpool"]), size, rng.choice([1, size]),
                rng.choice(["same", "valid"]))  # fmt: skip
    if choice == "pad":
        return ("pad", rng.randint(0, 2), rng.randint(0, 2), rng.randint(0, 2), rng.randint(0, 2))
    if choice == "residual":
        merge = rng.choice(["add", "add", "subtract", "multiply", "maximum", "minimum"])
        return ("residual", merge, rng.choice([1, 3]), act)
    if choice == "broadcast":  # squeeze-excite: x * sigmoid(conv(mean(x))), [1,1,1,C] broadcast
        return ("broadcast", rng.choice(["multiply", "add"]))
    if choice == "constant":
        return ("constant", round(rng.uniform(0.25, 2.0), 3), round(rng.uniform(-0.5, 0.5), 3))
    if choice == "concat":
        return ("concat", rng.choice([3, 3, 1, 2]))
    if choice == "activation":
        return ("activation", rng.choice(ACTIVATIONS))
    if choice == "upsample" and h * w <= 256:
        return ("upsample", rng.choice(["nearest", "bilinear"]))
    if choice == "crop" and small >= 3:
        return ("crop", rng.randint(0, 1), rng.randint(0, 1), rng.randint(0, 1), rng.randint(0, 1))
    if choice == "permute":
        return ("permute",)
    if choice == "transpose-conv" and h * w <= 256:
        k = rng.randint(1, 3)
        return ("transpose-conv", rng.randint(1, 8), k, rng.choice([1, 2]),
                rng.choice(["same", "valid"]), act)  # fmt: skip
    if choice == "resize" and h * w <= 256:  # RESIZE_NEAREST_NEIGHBOR (UpSampling2D is a TILE)
        return ("resize", h * 2, w * rng.choice([1, 2]))
    return None


def _draw_sequence(rng: random.Random, t: int, c: int) -> Layer | None:
    choice = rng.choice(["conv1d", "conv1d", "pool1d", "activation"])
    if choice == "conv1d":
        k = rng.randint(1, min(5, t))
        stride = rng.choice([1, 2]) if t >= 4 else 1
        act = rng.choice([None, "relu"])
        return ("conv1d", rng.randint(1, 8), k, stride, rng.choice(["same", "valid"]), act)
    if choice == "pool1d" and t >= 2:
        return ("pool1d", 2)
    if choice == "activation":
        return ("activation", rng.choice(ACTIVATIONS))
    return None


def _draw_vector(rng: random.Random, n: int) -> Layer | None:
    choice = rng.choice(["dense", "dense", "activation", "residual"])
    if choice == "dense":
        return ("dense", rng.randint(2, 32), rng.choice([None, "relu"]))
    if choice == "activation":
        return ("activation", rng.choice(ACTIVATIONS))
    return ("residual-dense", rng.choice(["add", "multiply", "subtract"]))


def _head(rng: random.Random, shape: tuple[int, ...], precision: str) -> list[Layer]:
    head: list[Layer] = []
    if len(shape) == 3 and rng.random() < 0.4:
        pools = ["global-average", "global-average", "global-max"]
        if precision == "int16":  # TFLite Micro's REDUCE_MAX (GlobalMaxPooling2D) is int8 only
            pools = pools[:2]
        head.append((rng.choice(pools),))
    elif len(shape) > 1 and (rng.random() < 0.5 or len(shape) == 2):
        head.append(("flatten",))
    elif len(shape) > 1:
        return [("reshape",)]  # the model's output is the last map, reshaped to a vector
    head.append(("dense", rng.randint(2, 10), None))
    if rng.random() < 0.4:
        head.append(("softmax",))
    return head


def _shape_after(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of ``layer`` on ``shape`` (batch left out), as Keras computes it."""
    output = _apply(layer, _keras().Input(shape, batch_size=1))
    return tuple(int(d) for d in output.shape[1:])


def _keras():
    import keras

    return keras


# Building: one Keras layer (or small block) per spec layer.


def build(s: Spec):
    """The Keras model of a spec, its weights seeded by (seed, index)."""
    keras = _keras()
    keras.backend.clear_session()  # layer names restart: the converter's output depends on them
    keras.utils.set_random_seed((s.seed * 100_003 + s.index) % 2**31)
    inputs = keras.Input(s.input_shape, batch_size=1)
    x = inputs
    for layer in s.layers:
        x = _apply(layer, x)
    return keras.Model(inputs, x)


def _activation(name: str | None):
    """A Keras activation layer by name (None: identity)."""
    keras = _keras()
    layers = keras.layers
    if name is None:
        return lambda x: x
    if name == "hard_swish":
        return layers.Activation(keras.activations.hard_silu)
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2)
    if name == "prelu":
        return layers.PReLU(shared_axes=None)
    return layers.Activation(name)


def _apply(layer: Layer, x):
    keras = _keras()
    layers = keras.layers
    kind, *p = layer
    if kind == "conv":
        filters, k, stride, dilation, padding, act = p
        return layers.Conv2D(filters, k, stride, padding, dilation_rate=dilation, activation=act)(x)
    if kind == "depthwise":
        k, stride, multiplier, padding, act = p
        return layers.DepthwiseConv2D(k, stride, padding, depth_multiplier=multiplier,
                                      activation=act)(x)  # fmt: skip
    if kind == "separable":
        filters, k, stride, padding, act = p
        return layers.SeparableConv2D(filters, k, stride, padding, activation=act)(x)
    if kind in ("maxpool", "avgpool"):
        size, stride, padding = p
        pool = layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D
        return pool(size, stride, padding)(x)
    if kind == "pad":
        top, bottom, left, right = p
        return layers.ZeroPadding2D(((top, bottom), (left, right)))(x)
    if kind == "residual":
        merge, k, act = p
        y = layers.Conv2D(x.shape[-1], k, padding="same", activation=act)(x)
        return _merge(merge)([x, y])
    if kind == "broadcast":
        (merge,) = p
        y = layers.GlobalAveragePooling2D(keepdims=True)(x)
        y = layers.Conv2D(x.shape[-1], 1, activation="sigmoid")(y)
        return _merge(merge)([x, y])
    if kind == "constant":
        scale, offset = p
        return layers.Rescaling(scale, offset)(x)
    if kind == "concat":
        (axis,) = p
        y = layers.Conv2D(2, 1, activation="relu")(x) if axis == 3 else layers.MaxPooling2D(1)(x)
        return layers.Concatenate(axis=axis)([x, y])
    if kind == "activation":
        return _activation(p[0])(x)
    if kind == "upsample":
        return layers.UpSampling2D(2, interpolation=p[0])(x)
    if kind == "crop":
        top, bottom, left, right = p
        return layers.Cropping2D(((top, bottom), (left, right)))(x)
    if kind == "permute":
        return layers.Permute((2, 1, 3))(x)
    if kind == "transpose-conv":
        filters, k, stride, padding, act = p
        return layers.Conv2DTranspose(filters, k, stride, padding, activation=act)(x)
    if kind == "resize":
        height, width = p
        return layers.Resizing(height, width, interpolation="nearest")(x)
    if kind == "conv1d":
        filters, k, stride, padding, act = p
        return layers.Conv1D(filters, k, stride, padding, activation=act)(x)
    if kind == "pool1d":
        return layers.MaxPooling1D(p[0])(x)
    if kind == "dense":
        units, act = p
        return layers.Dense(units, activation=act)(x)
    if kind == "residual-dense":
        return _merge(p[0])([x, layers.Dense(x.shape[-1])(x)])
    if kind == "global-average":
        return layers.GlobalAveragePooling2D()(x)
    if kind == "global-max":
        return layers.GlobalMaxPooling2D()(x)
    if kind == "flatten":
        return layers.Flatten()(x)
    if kind == "reshape":
        return layers.Reshape((-1,))(x)
    if kind == "softmax":
        return layers.Softmax()(x)
    raise ValueError(f"unknown layer kind {kind!r}")


def _merge(name: str):
    layers = _keras().layers
    return {
        "add": layers.Add,
        "subtract": layers.Subtract,
        "multiply": layers.Multiply,
        "maximum": layers.Maximum,
        "minimum": layers.Minimum,
    }[name]()
