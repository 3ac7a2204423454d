"""The Cortex-M conv kernel on the shapes the zoo's models leave out.

A small CNN converted here has what the kernel branches on: a 10x4 first conv with stride 2 and
padding, odd channel counts, a window larger than the kernel gathers (3x3 over 136 channels),
a strided 1x1 conv, an odd number of output pixels, then a fully connected layer; one conv's
output scale is patched so that its requantization is one RightShiftRequant does not fit
(shift >= 0: that conv goes pixel by pixel). Its
raw outputs must equal the tflite-micro wheel's on the emulated Cortex-M4 (the SIMD code) and
on the portable host build (the same blocking through portable helpers). Also the one-sum
requantization against gemmlowp's two roundings, compiled here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from host import data, zoo
from host.backends.engine import EngineBackend
from host.backends.tflm import TflmBackend
from host.tflite import check_model_bytes, model_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / "build" / "kernels-m4-tests"
ENGINE = REPO_ROOT / "firmware" / "engine"
N_BOARD = 12  # inputs through the emulated board (one frame)
N_HOST = 200


def _model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(11)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(5, (10, 4), strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(136, 1, activation="relu")(x)  # 16x16x136
    x = layers.Conv2D(7, 3, padding="same")(x)  # window 3 * 3 * 136 = 1224 values
    x = layers.Conv2D(9, 1, strides=2, activation="relu")(x)  # 8x8x9
    x = layers.Conv2D(6, 2)(x)  # 7x7x6: 49 pixels
    x = layers.Flatten()(x)
    outputs = layers.Dense(10)(x)  # logits: softmax would flatten them to one answer
    return keras.Model(inputs, outputs)


def _patch_output_scale(content: bytes, op_index: int) -> bytes:
    """The model with op ``op_index``'s output scale made so small that every channel's
    multiplier has shift >= 0 (input scale * weight scale / output scale >= 0.5)."""
    model = check_model_bytes(content)
    graph = model.subgraphs[0]
    op = graph.operators[op_index]
    scale_in = graph.tensors[op.inputs[0]].quantization.scale[0]
    scale_w = min(graph.tensors[op.inputs[1]].quantization.scale)
    graph.tensors[op.outputs[0]].quantization.scale = [scale_in * scale_w * 2.0]
    return model_bytes(model)


@pytest.fixture(scope="module")
def model_folder(data_dir) -> Path:
    """A user's model folder with the patched int8 model (converted once, kept under build/)."""
    folder = CACHE / "m4-shapes"
    path = folder / "int8.tflite"
    if not path.is_file():
        from host import quantize

        x = data.load("cifar10", "train").x[:100].astype(np.float32) / 255.0
        content = quantize.convert(_model(), x, "int8")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(_patch_output_scale(content, 3))
        tmp.replace(path)
        labels = json.dumps(data.CIFAR10_CLASSES)
        (folder / zoo.ENTRY_FILE).write_text(f'dataset = "cifar10"\nlabels = {labels}\n')
    return folder


def _conv_count(path: Path) -> int:
    model = check_model_bytes(path.read_bytes())
    codes = [model.operatorCodes[op.opcodeIndex].builtinCode for op in model.subgraphs[0].operators]
    return codes.count(schema.BuiltinOperator.CONV_2D)


def _inputs(wheel: TflmBackend, n: int) -> np.ndarray:
    """Real CIFAR-10 images, then random int8 inputs."""
    real = wheel.quantize(data.load("cifar10", "test").x[: n // 2].astype(np.float32) / 255.0)
    rng = np.random.default_rng(5)
    noise = rng.integers(-128, 128, (n - len(real), *real.shape[1:]), dtype=np.int8)
    return np.concatenate([real, noise])


def test_model_has_the_shapes(model_folder: Path) -> None:
    """The conversion kept five convs and the patched scale gives a shift >= 0."""
    path = model_folder / "int8.tflite"
    assert _conv_count(path) == 5
    graph = check_model_bytes(path.read_bytes()).subgraphs[0]
    op = graph.operators[3]
    ratio = (
        graph.tensors[op.inputs[0]].quantization.scale[0]
        * np.array(graph.tensors[op.inputs[1]].quantization.scale)
        / graph.tensors[op.outputs[0]].quantization.scale[0]
    )
    assert ratio.min() >= 0.5


def test_portable_build_is_exact(model_folder: Path) -> None:
    path = model_folder / "int8.tflite"
    wheel = TflmBackend(path, "int8")
    q = _inputs(wheel, N_HOST)
    ours = EngineBackend(path, "int8", isa="portable").invoke(q)
    assert np.array_equal(ours.reshape(len(q), -1), wheel.invoke(q).reshape(len(q), -1))
    assert len(np.unique(ours[: N_HOST // 2], axis=0)) > 1


def test_cortex_m4_is_exact(model_folder: Path) -> None:
    """The firmware of the model on the emulated mps2-an386 (Cortex-M4, SIMD kernels)."""
    from host.board import firmware  # the board stage, only for this test
    from host.board.client import Device  # the board stage, only for this test
    from host.board.qemu import Emulator  # the board stage, only for this test

    path = model_folder / "int8.tflite"
    wheel = TflmBackend(path, "int8")
    q = _inputs(wheel, N_BOARD)
    image = firmware.build(str(model_folder), "qemu-an386")
    with Emulator(image.board.qemu_machine, image.elf) as emu, Device(emu.url) as dev:
        outputs = np.stack([r.output for r in dev.infer(q)])
    expected = wheel.invoke(q)
    assert np.array_equal(outputs.reshape(expected.shape), expected)


def test_one_sum_requantization_matches_gemmlowp(tmp_path: Path) -> None:
    """RightShiftRequant (one 64-bit sum) == MultiplyByQuantizedMultiplier (gemmlowp's two
    roundings) on every channel it fits: shifts -2..-31 with edge and random multipliers and
    accumulators, and multiplier 0 with any shift; it does not fit shift -1 or a negative
    multiplier."""
    source = tmp_path / "check.cc"
    source.write_text(CHECK_SOURCE)
    binary = tmp_path / "check"
    compile_cmd = ["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ENGINE}"]
    subprocess.run([*compile_cmd, str(source), "-o", str(binary)], check=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert result.stdout.split()[-1] == str(33 * 200_000)


CHECK_SOURCE = r"""
#include <cstdio>
#include <random>
#include "requantize.h"

struct Channel {
  const int32_t* multiplier;
  const int32_t* shift;
};

int main() {
  std::mt19937_64 rng(1);
  const int32_t edges[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1,
                           1 << 30, -(1 << 30), 12345, -12345};
  const int32_t shifts[] = {0, 5, -1};  // multiplier 0 with these
  long bad = 0, checked = 0;
  for (int right = 2; right <= 34; ++right) {
    for (int i = 0; i < 200000; ++i) {
      int32_t m = static_cast<int32_t>(rng() & 0x7FFFFFFF), shift = -right;
      int32_t x = static_cast<int32_t>(rng());
      if (i < 169) {
        m = static_cast<int32_t>(static_cast<uint32_t>(edges[i % 13]) & 0x7FFFFFFFu);
        x = edges[i / 13];
      } else if (i % 3 == 0) {
        m = (1 << 30) + static_cast<int32_t>(rng() % (1u << 30));
        x >>= rng() % 31;
      }
      if (right > 31) m = 0, shift = shifts[right - 32];
      const Channel p{&m, &shift};
      if (!tr::RightShiftRequant::Fits(p, 1)) return 2;
      const int32_t want = tr::MultiplyByQuantizedMultiplier(x, m, shift);
      const int32_t got = tr::RightShiftRequant(p, 0).Scale(x);
      if (want != got && bad++ < 5) printf("%d * %d >> %d: %d, not %d\n", x, m, -shift, got, want);
      ++checked;
    }
  }
  const int32_t m1 = 1 << 30, s1 = -1, m2 = -5, s2 = -8;
  if (tr::RightShiftRequant::Fits(Channel{&m1, &s1}, 1)) return 3;
  if (tr::RightShiftRequant::Fits(Channel{&m2, &s2}, 1)) return 4;
  printf("checked %ld\n", checked);
  return bad != 0;
}
"""
