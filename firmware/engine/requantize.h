// Per-channel requantization of an accumulator to the output type, with the parameters of a
// convolution or fully connected op (multiplier, shift, output_offset, act_min, act_max):
// an int32 accumulator gives int8 (int8 kernels), an int64 accumulator int16 (int16x8 kernels).
#ifndef TINYROBUST_REQUANTIZE_H_
#define TINYROBUST_REQUANTIZE_H_

#include <stdint.h>

#include "fixed_point.h"

namespace tr {

template <typename Params>
inline int8_t Requantize(const Params& p, int32_t acc, int32_t channel) {
  return RequantizeS8(acc, p.multiplier[channel], p.shift[channel], p.output_offset, p.act_min,
                      p.act_max);
}

template <typename Params>
inline int16_t Requantize(const Params& p, int64_t acc, int32_t channel) {
  return RequantizeS16(acc, p.multiplier[channel], p.shift[channel], p.act_min, p.act_max);
}

// One channel's Requantize for many accumulators, in fewer instructions (the same values) when
// Fits: multiplier >= 0 and shift <= -2 (every channel of TFLite's conv models) or multiplier 0.
struct RightShiftRequant {
  int32_t multiplier, right;

  // True when channels [0, channels) all have shift <= -2 and multiplier > 0, or multiplier 0
  // (a channel whose weights are all 0: it scales everything to 0, as any right shift does).
  template <typename Params>
  static bool Fits(const Params& p, int32_t channels) {
    for (int32_t c = 0; c < channels; ++c) {
      if (p.multiplier[c] != 0 && (p.multiplier[c] < 0 || p.shift[c] > -2)) return false;
    }
    return true;
  }
  template <typename Params>
  RightShiftRequant(const Params& p, int32_t channel)
      : multiplier(p.multiplier[channel]), right(multiplier == 0 ? 2 : -p.shift[channel]) {}
  int32_t Scale(int32_t acc) const {
    return MultiplyByQuantizedMultiplierRight(acc, multiplier, right);
  }
};

// The output offset and activation range of an int8 op, copied out of its parameters (int8
// stores may alias anything, so fields read through a reference would be read again each time).
struct OutputRange {
  int32_t offset, lo, hi;
  uint32_t lo4, hi4;  // lo and hi in each byte

  template <typename Params>
  explicit OutputRange(const Params& p)
      : offset(p.output_offset),
        lo(p.act_min),
        hi(p.act_max),
        lo4((p.act_min & 0xFF) * 0x01010101u),
        hi4((p.act_max & 0xFF) * 0x01010101u) {}
  int8_t operator()(int32_t scaled) const {
    return static_cast<int8_t>(Clamp(scaled + offset, lo, hi));
  }
  // Two outputs in bytes 0 and 1. On Cortex-M4/M7: saturated to int8 (SSAT; the range lies
  // inside), then clamped to the range in both bytes at once (SSUB8 sets a byte's GE flag where
  // the difference is >= 0, SEL picks by it): 9 instructions for the two.
  uint32_t Pair(int32_t a, int32_t b) const {
#if defined(__ARM_FEATURE_DSP)
    uint32_t v = static_cast<uint32_t>(a + offset), t = static_cast<uint32_t>(b + offset);
    __asm__(
        "ssat %[v], #8, %[v]\n"
        "ssat %[t], #8, %[t]\n"
        "bfi %[v], %[t], #8, #8\n"
        "ssub8 %[t], %[v], %[lo4]\n"
        "sel %[v], %[v], %[lo4]\n"
        "ssub8 %[t], %[hi4], %[v]\n"
        "sel %[v], %[v], %[hi4]\n"
        : [v] "+r"(v), [t] "+r"(t)
        : [lo4] "r"(lo4), [hi4] "r"(hi4)
        : "cc");
    return v;
#else
    return static_cast<uint8_t>((*this)(a)) |
           static_cast<uint32_t>(static_cast<uint8_t>((*this)(b))) << 8;
#endif
  }
};

// Stores bytes 0 and 1 of OutputRange::Pair.
inline void StorePair(int8_t* out, uint32_t pair) {
  out[0] = static_cast<int8_t>(pair & 0xFF);
  out[1] = static_cast<int8_t>((pair >> 8) & 0xFF);
}

}  // namespace tr

#endif  // TINYROBUST_REQUANTIZE_H_
