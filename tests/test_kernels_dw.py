"""rescale.h (the depthwise and ADD kernels' rescaling) equals fixed_point.h's reference form.

A small host program compares HighMul, ShiftRightRounded, MulShift and MulShiftRightSmall
(accumulators within +-2^30) with TFLite's SaturatingRoundingDoublingHighMul,
RoundingDivideByPOT and MultiplyByQuantizedMultiplier on edge values and pseudo-random ones, for
every multiplier the compiler can emit (0 or [2^30, 2^31)) and every shift in [-31, 30]. The
filter_pairs layout is checked against the weights it packs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from engine_reference import tflm_run

from host import data, zoo
from host.backends.engine import EngineBackend
from host.compiler.ops.depthwise_conv import filter_pairs

ENGINE = Path(__file__).resolve().parent.parent / "firmware" / "engine"

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>

#include "fixed_point.h"
#include "rescale.h"

static uint64_t state = 88172645463325252ull;
static uint32_t Next() {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<uint32_t>(state);
}

int main() {
  const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -3, -2, -1,
                           0, 1, 2, 3, (1 << 30) - 1, 1 << 30, INT32_MAX - 1, INT32_MAX};
  long checked = 0, wrong = 0;
  for (int32_t shift = -31; shift <= 30; ++shift) {
    for (int i = 0; i < 20000; ++i) {
      const int32_t m = i == 0 ? 0 : static_cast<int32_t>((1u << 30) | (Next() >> 2));
      const int32_t x = i < 15 ? edges[i] : static_cast<int32_t>(Next()) >> (Next() % 32);
      const int32_t want = tr::MultiplyByQuantizedMultiplier(x, m, shift);
      wrong += tr::MulShift(x, m, shift) != want;
      const int32_t high = tr::SaturatingRoundingDoublingHighMul(x, m);
      wrong += tr::HighMul(x, m) != high;
      if (shift < 0) {
        wrong += tr::ShiftRightRounded(high, -shift - 1) != tr::RoundingDivideByPOT(high, -shift);
        const int32_t small = x / 2;  // within [-2^30, 2^30)
        wrong += tr::MulShiftRightSmall(small, m, shift) !=
                 tr::MultiplyByQuantizedMultiplier(small, m, shift);
      }
      checked += 1;
    }
  }
  printf("%ld %ld\n", checked, wrong);
  return 0;
}
"""


def test_rescale_equals_fixed_point(tmp_path: Path) -> None:
    source = tmp_path / "rescale_check.cc"
    source.write_text(PROGRAM)
    binary = tmp_path / "rescale_check"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ENGINE}",
            str(source),
            "-o",
            str(binary),
        ],
        check=True,
    )
    checked, wrong = map(
        int,
        subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split(),
    )
    assert checked == 62 * 20000
    assert wrong == 0


def test_filter_pairs_hold_each_weight_once() -> None:
    rng = np.random.default_rng(5)
    weights = rng.integers(-128, 128, size=(1, 3, 3, 10), dtype=np.int8)
    words = filter_pairs(weights)
    lanes = words.view("<i2").reshape(2, 9, 4)  # 2 groups of 4 channels, 9 taps
    taps = weights.reshape(9, 10)
    for group in range(2):
        for lane, channel in enumerate((0, 2, 1, 3)):
            np.testing.assert_array_equal(lanes[group, :, lane], taps[:, 4 * group + channel])


@pytest.mark.parametrize("model", ["mlperf-kws", "mlperf-resnet8"])
def test_portable_kernels_exact(model: str, data_dir) -> None:
    """The portable build (no x86 kernels: the Cortex-M kernels' structure, without DSP) is exact.

    KWS: depthwise convolutions with padded borders and interior rows, real and random inputs;
    ResNet-8: ADD (random inputs).
    """
    path = zoo.model_file(model, "int8")
    backend = EngineBackend(path, "int8", isa="portable")
    rng = np.random.default_rng(11)
    inputs = rng.integers(-128, 128, size=(40, *backend.input_shape), dtype=np.int8)
    if model == "mlperf-kws":
        inputs = np.concatenate([data.load("kws", "eval", data_dir).x[:40].astype(np.int8), inputs])
    ours = backend.invoke(inputs).reshape(len(inputs), -1)
    reference = tflm_run(path, inputs)
    np.testing.assert_array_equal(ours, reference)
    assert len(np.unique(ours, axis=0)) > 1
