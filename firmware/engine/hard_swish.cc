// HARD_SWISH, int8 (TFLite Micro reference HardSwish<int8_t>): in 16-bit fixed point, the input
// on a 2^7 finer scale times the "reluish" factor relu6(x + 3) / 6 in [0, 1], then the output
// rescale. TFLite Micro has no int16 kernel. Its int16 RoundingDivideByPOT equals the int32 one
// for the exponents 0..15 the compiler allows.
#include <limits>

#include "fixed_point.h"
#include "fixedpoint/fixedpoint.h"
#include "kernels.h"

namespace tr {
namespace {

inline int16_t SaturatingLeftShift16(int16_t value, int amount) {
  const int64_t shifted = static_cast<int64_t>(value) * (int64_t{1} << amount);
  return static_cast<int16_t>(shifted < -32768 ? -32768 : (shifted > 32767 ? 32767 : shifted));
}

// a * b * 2 / 2^16 rounded toward zero (ARM SQDMULH), saturating the INT16_MIN square.
inline int16_t SaturatingDoublingHighMul16(int16_t a, int16_t b) {
  if (a == b && a == std::numeric_limits<int16_t>::min()) return 32767;
  return static_cast<int16_t>((int32_t{a} * int32_t{b}) / (1 << 15));
}

// One int8 value.
int8_t HardSwishValue(const HardSwishParams& p, int32_t value) {
  const int16_t hires = static_cast<int16_t>((value - p.input_zero_point) * (1 << 7));
  const int16_t preshift_output =
      gemmlowp::SaturatingRoundingDoublingHighMul(hires, static_cast<int16_t>(p.output_multiplier));
  // x on the scale where 3 is 2^15 (saturating), the last left shift bit applied after the
  // multiplier so that any saturation happens there.
  int16_t reluish = hires;
  if (p.reluish_exponent > 0) reluish = SaturatingLeftShift16(reluish, p.reluish_exponent - 1);
  reluish = gemmlowp::SaturatingRoundingDoublingHighMul(reluish,
                                                        static_cast<int16_t>(p.reluish_multiplier));
  if (p.reluish_exponent > 0) reluish = SaturatingLeftShift16(reluish, 1);
  if (p.reluish_exponent < 0)
    reluish = static_cast<int16_t>(RoundingDivideByPOT(reluish, -p.reluish_exponent));
  reluish = static_cast<int16_t>((reluish + (1 << 15)) >> 1);  // [-1, 1] -> [0, 1]
  const int16_t preshift = SaturatingDoublingHighMul16(reluish, preshift_output);
  // TFLite Micro adds the zero point in int16 (wrapping) before clamping.
  const int16_t y =
      static_cast<int16_t>(RoundingDivideByPOT(preshift, -p.output_exponent) + p.output_zero_point);
  return static_cast<int8_t>(Clamp(y, -128, 127));
}

}  // namespace

// The values of all 256 inputs in a table when the tensor is larger, else one by one.
void HardSwishS8(const HardSwishParams& p, const int8_t* input, int8_t* output) {
  if (p.size <= 256) {
    for (int32_t i = 0; i < p.size; ++i) output[i] = HardSwishValue(p, input[i]);
    return;
  }
  int8_t table[256];
  for (int32_t v = -128; v < 128; ++v) table[v + 128] = HardSwishValue(p, v);
  for (int32_t i = 0; i < p.size; ++i) output[i] = table[input[i] + 128];
}

}  // namespace tr
