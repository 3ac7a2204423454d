// Fixed-point helpers with TFLite Micro's rounding rules (double rounding, the default build).
#ifndef TINYROBUST_FIXED_POINT_H_
#define TINYROBUST_FIXED_POINT_H_

#include <stdint.h>

namespace tr {

// (a * b * 2) >> 32 with round-half-away-from-zero, saturating the single overflow case.
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent, rounding half away from zero.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * multiplier * 2^shift for an int32 accumulator (shift > 0: left, < 0: right).
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(shifted, multiplier), right);
}

// The int64 accumulator variant (int16x8 kernels): a 16-bit multiplier and one rounding.
inline int32_t MultiplyByQuantizedMultiplier64(int64_t x, int32_t multiplier, int shift) {
  const int32_t reduced = multiplier < 0x7FFF0000 ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
  const int total_shift = 15 - shift;
  const int64_t round = int64_t{1} << (total_shift - 1);
  return static_cast<int32_t>((x * reduced + round) >> total_shift);
}

// MultiplyByQuantizedMultiplier(x, multiplier, -right) for multiplier >= 0 and right >= 2 (what
// TFLite's conv and fully connected channels have), in fewer instructions: the same value.
// SaturatingRoundingDoublingHighMul is floor((x * m + 2^30) / 2^31) when m >= 0 (its saturating
// case needs m = INT32_MIN), and RoundingDivideByPOT of v is floor((v + 2^(right-1) - [v < 0]) /
// 2^right); together floor((x * m + 2^30 - 2^31 [x < 0] + 2^(30+right)) / 2^(31+right)) (x < 0
// stands for v < 0: they differ only where the result is 0 either way), taken from the high word
// of the 64-bit sum, where adding 2^(right-2) cannot overflow.
inline int32_t MultiplyByQuantizedMultiplierRight(int32_t x, int32_t multiplier, int right) {
  // 2^30 with the sign of x: high word x >> 31, low word 0x40000000 | the sign bit of x.
  const uint32_t low = (static_cast<uint32_t>(x) & 0x80000000u) | 0x40000000u;
  const int64_t nudge =
      static_cast<int64_t>((static_cast<uint64_t>(static_cast<uint32_t>(x >> 31)) << 32) | low);
  const int32_t high = static_cast<int32_t>((static_cast<int64_t>(x) * multiplier + nudge) >> 32);
  return (high + (1 << (right - 2))) >> (right - 1);
}

inline int32_t Clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

// int32 accumulator -> int8 output (conv, depthwise, fully connected).
inline int8_t RequantizeS8(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset,
                           int32_t lo, int32_t hi) {
  return static_cast<int8_t>(
      Clamp(MultiplyByQuantizedMultiplier(acc, multiplier, shift) + offset, lo, hi));
}

// int64 accumulator -> int16 output (int16x8 conv, depthwise, fully connected; zero point 0).
inline int16_t RequantizeS16(int64_t acc, int32_t multiplier, int32_t shift, int32_t lo,
                             int32_t hi) {
  return static_cast<int16_t>(
      Clamp(MultiplyByQuantizedMultiplier64(acc, multiplier, shift), lo, hi));
}

}  // namespace tr

#endif  // TINYROBUST_FIXED_POINT_H_
