// Cheaper forms of fixed_point.h's rescaling, identical to it for the multipliers the compiler
// emits (QuantizeMultiplier: 0 or in [2^30, 2^31), so never INT32_MIN): used by depthwise
// convolution and ADD, where it runs once per output value. tests/test_kernels_dw.py checks them
// against fixed_point.h on edge and random values.
#ifndef TINYROBUST_RESCALE_H_
#define TINYROBUST_RESCALE_H_

#include <stdint.h>

#include "fixed_point.h"

namespace tr {

// SaturatingRoundingDoublingHighMul(a, b) for b >= 0. Its two nudges (+2^30 for a * b >= 0,
// 1 - 2^30 then truncation toward zero below) both equal floor((a * b + 2^30) / 2^31), and
// saturation needs b == INT32_MIN. The result is > INT32_MIN.
inline int32_t HighMul(int32_t a, int32_t b) {
  return static_cast<int32_t>((static_cast<int64_t>(a) * b + (int64_t{1} << 30)) >> 31);
}

// HighMul(a, b) for -2^30 <= a < 2^30: floor((2a * b + 2^31) / 2^32), one SMMULR on Cortex-M.
inline int32_t HighMulSmall(int32_t a, int32_t b) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a * 2), "r"(b));
  return r;
#else
  return static_cast<int32_t>((static_cast<int64_t>(a * 2) * b + (int64_t{1} << 31)) >> 32);
#endif
}

// RoundingDivideByPOT(x, e) for x > INT32_MIN and 1 <= e <= 31, given e - 1. Halves round away
// from zero, so a negative x rounds as x - 1 rounds halves up; rounding halves up is
// floor((floor(y / 2^(e - 1)) + 1) / 2), and floor((a + 1) / 2) = a - floor(a / 2).
inline int32_t ShiftRightRounded(int32_t x, int32_t e_minus_1) {
  const int32_t a = (x + (x >> 31)) >> e_minus_1;
  return a - (a >> 1);
}

// MultiplyByQuantizedMultiplier(x, multiplier, shift) for multiplier >= 0 and -31 <= shift < 0.
inline int32_t MulShiftRight(int32_t x, int32_t multiplier, int32_t shift) {
  return ShiftRightRounded(HighMul(x, multiplier), ~shift);  // ~shift = -shift - 1
}

// MulShiftRight for -2^30 <= x < 2^30.
inline int32_t MulShiftRightSmall(int32_t x, int32_t multiplier, int32_t shift) {
  return ShiftRightRounded(HighMulSmall(x, multiplier), ~shift);
}

// Clamp(x, -128, 127): one SSAT on Cortex-M.
inline int32_t SaturateS8(int32_t x) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x));
  return r;
#else
  return Clamp(x, -128, 127);
#endif
}

// MultiplyByQuantizedMultiplier(x, multiplier, shift) for multiplier >= 0 and shift >= -31.
inline int32_t MulShift(int32_t x, int32_t multiplier, int32_t shift) {
  if (__builtin_expect(shift >= 0, 0)) {
    return HighMul(static_cast<int32_t>(static_cast<uint32_t>(x) << shift), multiplier);
  }
  return MulShiftRight(x, multiplier, shift);
}

}  // namespace tr

#endif  // TINYROBUST_RESCALE_H_
