"""Float Keras model files: Keras 3 ``.keras`` and Keras 2 ``.h5`` (the MLPerf Tiny imports).

Keras 3 reads Keras 2 ``.h5`` files except for one key: Keras 2 wrote ``groups`` into every
DepthwiseConv2D config, an argument Keras 3 does not take (a depthwise convolution has one
group). ``load`` reads such files with a DepthwiseConv2D that accepts ``groups=1``; the outputs
equal those of ``tf_keras``, the Keras 2 reader (``tests/test_user_model.py``).
"""

from __future__ import annotations

from pathlib import Path

import keras

from host.errors import UserError


class Keras2DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D that also reads Keras 2 configs (``groups``, always 1)."""

    def __init__(self, *args, groups: int = 1, **kwargs) -> None:
        if groups != 1:
            raise ValueError(f"DepthwiseConv2D with groups={groups}")
        super().__init__(*args, **kwargs)


KERAS2_LAYERS = {"DepthwiseConv2D": Keras2DepthwiseConv2D}


def load(path: str | Path) -> keras.Model:
    """The float model in ``path``; a one-line UserError when Keras cannot read it."""
    try:
        return keras.models.load_model(path, compile=False, custom_objects=KERAS2_LAYERS)
    except (OSError, ValueError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UserError(f"Keras cannot load {path}: {first_line}") from error


def with_batch_size(model: keras.Model, batch_size: int = 1) -> keras.Model:
    """A copy of ``model`` whose input has a fixed batch size, with the same weights."""
    inputs = keras.Input(batch_shape=(batch_size, *model.input_shape[1:]))
    structure = [inputs] if isinstance(model.input, list) else inputs  # as the model's input
    twin = keras.models.clone_model(model, input_tensors=structure)
    twin.set_weights(model.get_weights())
    return twin
