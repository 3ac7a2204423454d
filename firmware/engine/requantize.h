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

// int32 accumulator -> int8 for a block of one channel's accumulators, by one of two policies
// that give the same bytes: ExactRequant (any multiplier and shift) and RightShiftRequant
// (RightShiftRequant::Fits: every channel of TFLite's models), which costs fewer instructions.
struct ExactRequant {
  int32_t multiplier, shift;

  template <typename Params>
  static bool Fits(const Params&, int32_t) {
    return true;
  }
  template <typename Params>
  ExactRequant(const Params& p, int32_t channel)
      : multiplier(p.multiplier[channel]), shift(p.shift[channel]) {}
  int32_t Scale(int32_t acc) const { return MultiplyByQuantizedMultiplier(acc, multiplier, shift); }
};

struct RightShiftRequant {
  int32_t multiplier, right;

  // True when channels [0, channels) all have shift <= -2 and multiplier > 0, or multiplier 0
  // (a channel whose weights are all 0: it scales everything to 0, as any shift does).
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

  template <typename Params>
  explicit OutputRange(const Params& p) : offset(p.output_offset), lo(p.act_min), hi(p.act_max) {}
  int8_t operator()(int32_t scaled) const {
    return static_cast<int8_t>(Clamp(scaled + offset, lo, hi));
  }
};

}  // namespace tr

#endif  // TINYROBUST_REQUANTIZE_H_
