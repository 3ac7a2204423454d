"""The x86 SIMD kernels (firmware/engine/x86/) are byte-exact with the TFLite Micro wheel.

Every x86 variant of the host library this CPU runs (AVX-512 VNNI, AVX2) runs real and random
inputs through zoo models and through a model converted here to hit the kernels' edge cases:
stride 2, SAME and VALID padding, dilation, a non-square kernel, channel counts that are not
multiples of the vector width (3, 7, 37, 70, 74), more output channels than one register tile
holds, int16 sums long enough to need several int32 passes (k = 666), 1x1 convolutions,
depth multipliers 1 and 2, ADD of a residual and fully connected layers of odd depth. The
vector requantization is also checked value by value against fixed_point.h, corner cases included.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from engine_reference import (
    Variant,
    cached_conversion,
    calibration_images,
    real_inputs,
    tflm_interpreter,
    tflm_outputs,
)

from host import zoo
from host.backends.engine import EngineBackend
from host.compiler.toolchain import CXX_FLAGS, ENGINE_DIR, ISA_FLAGS, cpu_isas
from host.errors import UserError

X86_ISAS = [isa for isa in cpu_isas() if isa != "portable"]
N_QUICK = 40  # real and random inputs each, default tests
N_FULL = 300  # slow tests


def _edge_model():
    """A small CNN whose shapes hit every remainder and blocking path of the x86 kernels."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(11)
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(7, 3, strides=2, padding="same", activation="relu")(inputs)  # 16x16x7
    x = layers.Conv2D(37, 1)(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid")(x)  # 14x14x74
    x = layers.MaxPooling2D(2)(x)  # 7x7x74
    main = layers.Conv2D(70, 3, dilation_rate=2, padding="same")(x)
    shortcut = layers.Conv2D(70, 1)(x)
    x = layers.Add()([main, shortcut])
    x = layers.Conv2D(5, (2, 3), strides=(1, 2), padding="valid", activation="relu6")(x)
    x = layers.Flatten()(x)  # 6 * 3 * 5 = 90 values
    x = layers.Dense(13, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs)


def _edge(precision: str) -> bytes:
    from host import quantize  # TensorFlow: loaded only when a conversion is needed

    calibration = (calibration_images() / 255.0).astype(np.float32)
    return quantize.convert(_edge_model(), calibration, precision)


def _variant(name: str, precision: str) -> Variant:
    if name == "edge":
        path = cached_conversion(f"x86-edge-{precision}", lambda: _edge(precision))
        return Variant(name, precision, path, None)
    try:
        path = zoo.model_file(name, precision)
    except UserError as error:
        pytest.skip(f"{name} {precision} not available: {error}")
    return Variant(name, precision, path, zoo.spec(name).dataset)


def _inputs(v: Variant, n: int) -> np.ndarray:
    """n real examples then n random ones, in the model's input type."""
    details = tflm_interpreter(v.path).get_input_details(0)
    real = real_inputs(v, details)[:n]
    info = np.iinfo(details["dtype"])
    shape = (n, *details["shape"][1:])
    random = np.random.default_rng(99).integers(info.min, info.max + 1, shape, details["dtype"])
    return np.concatenate([real, random])


def _assert_exact(v: Variant, isa: str, n: int) -> None:
    inputs = _inputs(v, n)
    reference = tflm_outputs(v.path, inputs)
    ours = EngineBackend(v.path, v.precision, isa=isa, threads=2).invoke(inputs)
    ours = ours.reshape(len(inputs), -1)
    bad = np.flatnonzero(np.any(ours != reference, axis=1))
    assert len(bad) == 0, f"{v.name} {v.precision} {isa}: {len(bad)}/{len(inputs)} differ"
    assert len(np.unique(ours[:n], axis=0)) > 1  # the real inputs exercise the model


def _params(models: list[tuple[str, str]]) -> list:
    return [
        pytest.param(isa, name, precision, id=f"{isa}-{name}-{precision}")
        for isa in X86_ISAS
        for name, precision in models
    ]


QUICK = [("edge", "int8"), ("edge", "int16"), ("cifar10-resnet8", "int8")]
FULL = [
    ("edge", "int8"),
    ("edge", "int16"),
    ("cifar10-resnet8", "int8"),
    ("cifar10-resnet8", "int16"),
    ("mlperf-resnet8", "int8"),
    ("mlperf-kws", "int8"),
    ("mlperf-vww", "int8"),
]


@pytest.mark.skipif(not X86_ISAS, reason="no AVX2 or AVX-512 on this CPU")
@pytest.mark.parametrize(("isa", "name", "precision"), _params(QUICK))
def test_x86_kernels_exact(isa: str, name: str, precision: str, data_dir) -> None:
    _assert_exact(_variant(name, precision), isa, N_QUICK)


@pytest.mark.slow
@pytest.mark.skipif(not X86_ISAS, reason="no AVX2 or AVX-512 on this CPU")
@pytest.mark.parametrize(("isa", "name", "precision"), _params(FULL))
def test_x86_kernels_exact_full(isa: str, name: str, precision: str, data_dir) -> None:
    _assert_exact(_variant(name, precision), isa, N_FULL)


# Vector requantization (x86/simd.h, x86/pack.h) against fixed_point.h's scalar functions: every
# combination of edge and random accumulators, multipliers and shifts. Prints "compared differing".
REQUANTIZE_CHECK = r"""
#include <stdio.h>

#include "fixed_point.h"
#include "x86/pack.h"

using namespace tr;
using namespace tr::x86;

static uint64_t state = 1;
static int64_t Random() {  // 64-bit LCG, high bits
  state = state * 6364136223846793005ULL + 1442695040888963407ULL;
  return static_cast<int64_t>(state >> 1);
}

int main() {
  const int32_t edges[] = {0, 1, -1, 2, -2, 3, -3, INT32_MIN, INT32_MIN + 1, INT32_MAX,
                           INT32_MAX - 1, 1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1,
                           1 << 15, -(1 << 15), 0x7FFF0000, 0x7FFEFFFF, 12345, -12345};
  const int n_edges = sizeof(edges) / sizeof(edges[0]);
  long compared = 0, differing = 0;
  for (int32_t shift = -31; shift <= 14; ++shift) {
    for (int round = 0; round < n_edges + 64; ++round) {
      alignas(64) int32_t x[kLanes], m[kLanes], left[kLanes], right[kLanes], out[kLanes];
      for (int32_t i = 0; i < kLanes; ++i) {
        x[i] = round < n_edges && i < n_edges ? edges[(round + i) % n_edges]
                                              : static_cast<int32_t>(Random());
        m[i] = round < n_edges ? edges[round] : static_cast<int32_t>(Random());
        left[i] = shift > 0 ? shift : 0;
        right[i] = shift > 0 ? 0 : -shift;
      }
      Store(out, MultiplyByQuantizedMultiplier(Load(x), Load(m), Load(left), Load(right)));
      for (int32_t i = 0; i < kLanes; ++i, ++compared) {
        differing += out[i] != MultiplyByQuantizedMultiplier(x[i], m[i], shift);
      }
      // int16x8: int64 sums (|sum| < 2^47) and positive multipliers, bias added first.
      int64_t sums[kLanes], bias[kLanes];
      int32_t multiplier[kLanes], shifts[kLanes];
      int16_t out16[kLanes];
      for (int32_t i = 0; i < kLanes; ++i) {
        sums[i] = Random() >> (16 + (round + i) % 48);
        sums[i] = (round + i) % 2 ? -sums[i] : sums[i];
        bias[i] = Random() >> 40;
        multiplier[i] = m[i] == INT32_MIN ? INT32_MAX : (m[i] < 0 ? -m[i] : m[i]);
        shifts[i] = shift;
      }
      ChannelParams64(kLanes, bias, multiplier, shifts).Requantize(sums, 0, kLanes, -32768, 32767,
                                                                   out16);
      for (int32_t i = 0; i < kLanes; ++i, ++compared) {
        differing += out16[i] != RequantizeS16(sums[i] + bias[i], multiplier[i], shift, -32768,
                                               32767);
      }
    }
  }
  printf("%ld %ld\n", compared, differing);
  return 0;
}
"""


@pytest.mark.skipif(not X86_ISAS, reason="no AVX2 or AVX-512 on this CPU")
@pytest.mark.parametrize("isa", X86_ISAS)
def test_vector_requantization_matches_fixed_point(isa: str, tmp_path: Path) -> None:
    source = tmp_path / "requantize_check.cc"
    source.write_text(REQUANTIZE_CHECK)
    program = tmp_path / "requantize_check"
    command = [
        "g++",
        *CXX_FLAGS,
        *ISA_FLAGS[isa],
        f"-I{ENGINE_DIR}",
        str(source),
        "-o",
        str(program),
    ]
    subprocess.run(command, check=True, capture_output=True)
    compared, differing = map(
        int,
        subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout.split(),
    )
    assert compared > 10_000
    assert differing == 0, f"{isa}: {differing} of {compared} requantized values differ"
