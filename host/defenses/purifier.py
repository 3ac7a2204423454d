"""PixelDefend (Song et al., ICLR 2018): a small PixelCNN, its training, greedy purification.

The PixelCNN (van den Oord et al., 2016) models 8-bit images sub-pixel by sub-pixel in raster
order (rows, columns, then R, G, B) with a 256-way softmax per sub-pixel. Masked convolutions
keep it causal: a hidden channel belongs to the group of R, G or B, and a kernel's centre tap
links an input group to an output group only when the input comes earlier (the first layer) or
not later (the others); taps below the centre row, or right of it on that row, are zero.

Purification replaces each sub-pixel, in that order, by its most likely value under the model,
conditioned on the sub-pixels already purified, within +-eps 8-bit levels of its own value; all
images of a batch advance together. One step needs the logits of one sub-pixel, which depend
only on the rows above it and the columns around it within the network's reach (``REACH``), so
a step runs the network on that window alone: H*W*3 small sequential passes per batch.

Images larger than RESOLUTION (coffee's 224 x 224: 150,528 sequential passes, too slow on a CPU)
are purified at RESOLUTION: PixelDefend on their 7x7 block means (the PixelCNN is trained on
those), each block's change added to its 49 pixels. That removes perturbations of the block
means only; a perturbation inside the blocks passes through.
"""

from __future__ import annotations

import json
import math
import time
from functools import cache
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from host import data as datasets
from host.defenses.base import Preprocessor
from host.errors import UserError
from host.paths import MODELS

PURIFIERS = MODELS / "purifiers"
DATASETS = ("cifar10", "coffee")  # image data sets with a training split
LEVELS = 256  # values of one 8-bit sub-pixel
CHANNELS = 3
HIDDEN = 36  # hidden channels, 12 per colour group
FIRST_KERNEL = 7
BLOCKS = 4  # residual 3x3 masked convolutions after the first layer
REACH = FIRST_KERNEL // 2 + BLOCKS  # rows above and columns either side an output depends on
RESOLUTION = 32  # larger images are purified as their block means at this side (coffee: 7x7)
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
DEFAULT_EPS = 16


def causal_mask(kernel: int, channels_in: int, channels_out: int, first: bool) -> np.ndarray:
    """The 0/1 mask of a (kernel, kernel, in, out) weight: taps above the centre row and left of
    the centre on its row are open; the centre links input group g to output group h when g < h
    (first layer) or g <= h (later layers); groups split the channels in three equal blocks."""
    mask = np.zeros((kernel, kernel, channels_in, channels_out), np.float32)
    centre = kernel // 2
    mask[:centre] = 1
    mask[centre, :centre] = 1
    group_in = np.arange(channels_in) * CHANNELS // channels_in
    group_out = np.arange(channels_out) * CHANNELS // channels_out
    if first:
        mask[centre, centre] = group_in[:, None] < group_out[None, :]
    else:
        mask[centre, centre] = group_in[:, None] <= group_out[None, :]
    return mask


@keras.saving.register_keras_serializable(package="tinyrobust")
class MaskedConv2D(keras.layers.Layer):
    """A 'same'-padded convolution whose kernel is multiplied by ``causal_mask``."""

    def __init__(self, filters: int, kernel_size: int, first: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.first = first

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels_in = int(input_shape[-1])  # type: ignore[arg-type]
        shape = (self.kernel_size, self.kernel_size, channels_in, self.filters)
        self.kernel = self.add_weight(shape=shape, initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        self.mask = causal_mask(self.kernel_size, channels_in, self.filters, self.first)

    def call(self, x: Any) -> Any:
        kernel = self.kernel * self.mask
        return keras.ops.conv(x, kernel, padding="same") + self.bias

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, first=self.first)
        return config


def build_pixelcnn() -> keras.Model:
    """The PixelCNN: ``body`` (float NHWC in [-1, 1] to HIDDEN features per pixel), then
    ``head`` (features to CHANNELS * LEVELS logits, channel-major) as two named sub-models."""
    image = keras.Input((None, None, CHANNELS))
    h = keras.layers.ReLU()(MaskedConv2D(HIDDEN, FIRST_KERNEL, first=True)(image))
    for _ in range(BLOCKS):
        h = keras.layers.Add()([h, keras.layers.ReLU()(MaskedConv2D(HIDDEN, 3, first=False)(h))])
    body = keras.Model(image, h, name="body")
    features = keras.Input((None, None, HIDDEN))
    g = keras.layers.ReLU()(MaskedConv2D(HIDDEN, 1, first=False)(features))
    logits = MaskedConv2D(CHANNELS * LEVELS, 1, first=False)(g)
    head = keras.Model(features, logits, name="head")
    return keras.Model(image, head(body(image)), name="pixelcnn")


def scaled(levels: np.ndarray) -> np.ndarray:
    """8-bit levels as the network's float input in [-1, 1]."""
    return np.asarray(levels, np.float32) / 127.5 - 1.0


def pixel_logits(model: keras.Model, levels: np.ndarray) -> np.ndarray:
    """The logits of every sub-pixel, (N, H, W, CHANNELS, LEVELS), of uint8 images."""
    out = np.asarray(model(scaled(levels), training=False))
    return out.reshape(*out.shape[:3], CHANNELS, LEVELS)


def bits_per_dim(model: keras.Model, levels: np.ndarray, batch: int = 32) -> float:
    """The model's mean negative log-likelihood of uint8 images, in bits per sub-pixel."""
    nats = 0.0
    for start in range(0, len(levels), batch):
        chunk = levels[start : start + batch]
        logits = model(scaled(chunk), training=False)
        nats += float(_loss(chunk.astype(np.int32), logits)) * len(chunk)
    return nats / len(levels) / math.log(2)


def downsampled(levels: np.ndarray) -> np.ndarray:
    """uint8 NHWC images no larger than RESOLUTION as they are; larger (square, side a multiple
    f of RESOLUTION: coffee's 224 = 7 x 32) as the mean of each f x f block, rounded half up."""
    n, h, w, c = levels.shape
    if max(h, w) <= RESOLUTION:
        return np.asarray(levels, np.uint8)
    if h != w or h % RESOLUTION:
        raise UserError(f"purify: needs images of side <= {RESOLUTION} or square, a multiple of it")
    f = h // RESOLUTION
    blocks = np.asarray(levels, np.int64).reshape(n, RESOLUTION, f, RESOLUTION, f, c)
    return ((blocks.sum(axis=(2, 4)) * 2 + f * f) // (2 * f * f)).astype(np.uint8)


def train_purifier(
    dataset: str,
    seed: int = 0,
    epochs: int = 1,
    limit: int | None = None,
    out_dir: Path | None = None,
    data_dir: str | None = None,
) -> Path:
    """Train a PixelCNN on the first ``limit`` training images of ``dataset`` (all if None),
    seeded, with Adam and a cosine-decayed rate; write purifier.keras and training.json (seed,
    images, epochs, seconds, loss per epoch, bits/dim on the held-out test images) to
    ``out_dir`` (default models/purifiers/<dataset>); returns the model's path."""
    from tqdm import tqdm

    if dataset not in DATASETS:
        raise UserError(f"purify: no training images for {dataset!r}; known: {DATASETS}")
    train_set = datasets.load(dataset, "train", data_dir).take(limit)
    images = downsampled(train_set.x)
    held_out = datasets.load(dataset, "test", data_dir)
    out_dir = Path(out_dir) if out_dir else PURIFIERS / dataset
    out_dir.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(seed)
    model = build_pixelcnn()
    steps = math.ceil(len(train_set) / BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps * epochs)
    model.compile(keras.optimizers.Adam(schedule), loss=_loss)
    started, history = time.time(), []
    for epoch in range(epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_set))
        losses = []
        bar = tqdm(range(steps), desc=f"purifier {dataset} epoch {epoch + 1}/{epochs}")
        for step in bar:
            batch = images[order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]]
            losses.append(float(model.train_on_batch(scaled(batch), batch.astype(np.int32))))
            bar.set_postfix(bits_per_dim=f"{np.mean(losses[-50:]) / math.log(2):.3f}")
        train_bits = round(float(np.mean(losses)) / math.log(2), 4)
        history.append({"epoch": epoch + 1, "train_bits_per_dim": train_bits})
    seconds = time.time() - started
    test_images = downsampled(held_out.x)
    path = out_dir / "purifier.keras"
    save(model, path)
    record = {
        "seed": seed,
        "dataset": f"{dataset}/train ({train_set.source})",
        "images": len(train_set),
        "resolution": RESOLUTION,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "architecture": f"PixelCNN {FIRST_KERNEL}x{FIRST_KERNEL} + {BLOCKS} residual 3x3 "
        f"masked convs, {HIDDEN} channels, 256-way softmax per sub-pixel",
        "parameters": model.count_params(),
        "seconds": round(seconds, 1),
        "history": history,
        "held_out": f"{dataset}/test ({held_out.source}), {len(test_images)} images",
        "bits_per_dim": round(bits_per_dim(model, test_images), 4),
    }
    (out_dir / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return path


def save(model: keras.Model, path: Path) -> None:
    """Save a PixelCNN's weights and architecture, without the training's optimizer state."""
    bare = build_pixelcnn()
    bare.set_weights(model.get_weights())
    bare.save(path)


def _loss(levels: Any, logits: Any) -> Any:
    """Mean cross-entropy (nats) of every sub-pixel's 256-way softmax."""
    shape = keras.ops.shape(logits)
    logits = keras.ops.reshape(logits, (shape[0], shape[1], shape[2], CHANNELS, LEVELS))
    return keras.ops.mean(
        keras.ops.sparse_categorical_crossentropy(levels, logits, from_logits=True)
    )


@cache
def _load(path: Path) -> keras.Model:
    return keras.models.load_model(path, compile=False)


class Purifier(Preprocessor):
    """PixelDefend with ``eps`` 8-bit levels (``purify`` is eps 16, ``purify<eps>`` others)
    and the PixelCNN trained for ``dataset`` (in ``folder``, default PURIFIERS/<dataset>)."""

    def __init__(self, dataset: str, eps: int = DEFAULT_EPS, folder: Path | None = None) -> None:
        if not 0 <= eps < LEVELS:
            raise UserError(f"purify{eps}: eps must be 0..{LEVELS - 1} 8-bit levels")
        path = Path(folder or PURIFIERS / str(dataset)) / "purifier.keras"
        if not path.is_file():
            raise UserError(
                f"purify: no purifier trained for {dataset} "
                f"(python -m host.purify --dataset {dataset})"
            )
        self.dataset = dataset
        self.eps = eps
        self.name = "purify" if eps == DEFAULT_EPS else f"purify{eps}"
        model = _load(path)
        parts = [model.get_layer("body"), model.get_layer("head")]
        layers = [layer for part in parts for layer in part.layers if hasattr(layer, "mask")]
        # Each masked kernel cut to its rows down to the centre (the rows below are zero).
        self._kernels = [
            tf.constant((layer.kernel.numpy() * layer.mask)[: layer.kernel_size // 2 + 1])
            for layer in layers
        ]
        self._biases = [tf.constant(layer.bias.numpy()) for layer in layers]
        self._step = tf.function(self._window_logits, reduce_retracing=True)

    def _window_logits(self, window: tf.Tensor, inside: tf.Tensor) -> tf.Tensor:
        """The logits (N, CHANNELS * LEVELS) of the bottom-centre pixel of a scaled window of
        REACH + 1 rows and 2 * REACH + 1 columns (zero outside the image, where ``inside`` is
        0): 'valid' convolutions shrink it to that one pixel, and every layer's values outside
        the image are zeroed, as the whole-image model's 'same' padding has them."""
        h = window
        body = zip(self._kernels[:-2], self._biases[:-2], strict=True)
        for index, (kernel, bias) in enumerate(body):
            up, side = kernel.shape[0] - 1, kernel.shape[1] // 2
            out = tf.nn.relu(tf.nn.conv2d(h, kernel, 1, "VALID") + bias)
            inside = inside[up:, side : inside.shape[1] - side]
            if index:  # a residual block
                out += h[:, up:, side : h.shape[2] - side]
            h = out * inside[None, :, :, None]
        hidden, logits = self._kernels[-2][0, 0], self._kernels[-1][0, 0]
        g = tf.nn.relu(tf.reshape(h, (-1, HIDDEN)) @ hidden + self._biases[-2])
        return g @ logits + self._biases[-1]

    def logits_at(self, levels: np.ndarray, i: int, j: int) -> np.ndarray:
        """The logits (N, CHANNELS, LEVELS) of pixel (i, j) of uint8 images, computed on the
        window of rows i-REACH..i and columns j-REACH..j+REACH, the pixels it depends on."""
        n, h, w, c = levels.shape
        window = np.zeros((n, REACH + 1, 2 * REACH + 1, c), np.float32)
        inside = np.zeros(window.shape[1:3], np.float32)
        top, left, right = max(0, i - REACH), max(0, j - REACH), min(w, j + REACH + 1)
        rows = slice(top - (i - REACH), REACH + 1)
        cols = slice(left - (j - REACH), right - (j - REACH))
        window[:, rows, cols] = scaled(levels[:, top : i + 1, left:right])
        inside[rows, cols] = 1
        out = self._step(tf.constant(window), tf.constant(inside))
        return np.asarray(out).reshape(-1, CHANNELS, LEVELS)

    def levels(self, levels: np.ndarray) -> np.ndarray:
        """Purify uint8 NHWC images: the greedy raster-order PixelDefend of their 8-bit levels."""
        original = np.asarray(levels, np.uint8)
        out = original.copy()
        values = np.arange(LEVELS)
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                for c in range(CHANNELS):
                    logits = self.logits_at(out, i, j)[:, c]
                    near = np.abs(values[None, :] - original[:, i, j, c, None].astype(int))
                    allowed = np.where(near <= self.eps, logits, -np.inf)
                    out[:, i, j, c] = np.argmax(allowed, axis=1)
        return out

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        """Purified [0,1] images. Images larger than RESOLUTION are purified at RESOLUTION:
        PixelDefend on their block means, each block's change added to its pixels (clipped to
        [0, 255], so no value moves more than eps either)."""
        x = np.asarray(x01, np.float64)
        if x.ndim != 4 or x.shape[-1] != CHANNELS:
            raise UserError(f"purify: needs NHWC images with {CHANNELS} channels, got {x.shape}")
        levels = np.floor(np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.int64)
        small = downsampled(levels)
        change = self.levels(small).astype(np.int64) - small
        f = levels.shape[1] // small.shape[1]
        change = np.repeat(np.repeat(change, f, axis=1), f, axis=2)
        return (np.clip(levels + change, 0, LEVELS - 1) / 255.0).astype(np.float32)
