// SOFTMAX, as TFLite Micro's reference kernels compute it:
// - int8 input: gemmlowp fixed point (exp on Q5.26 differences, Q12 sum, reciprocal);
// - int16 input: 513-entry lookup tables for exp and 1 / (1 + x) with linear interpolation.
#include "fixed_point.h"
#include "fixedpoint/fixedpoint.h"
#include "kernels.h"

namespace tr {
namespace {

constexpr int kScaledDiffIntegerBits = 5;
constexpr int kAccumulationIntegerBits = 12;

// 1 / x for x in Q(integer_digits), as a Q0.31 value scaled by 2^-num_bits_over_unit.
inline int32_t Reciprocal(int32_t x, int integer_digits, int* num_bits_over_unit) {
  const int headroom_plus_one = __builtin_clz(static_cast<uint32_t>(x));
  *num_bits_over_unit = integer_digits - headroom_plus_one;
  const int32_t shifted_minus_one = static_cast<int32_t>(
      (static_cast<uint32_t>(x) << headroom_plus_one) - (static_cast<uint32_t>(1) << 31));
  return gemmlowp::one_over_one_plus_x_for_x_in_0_1(
             gemmlowp::FixedPoint<int32_t, 0>::FromRaw(shifted_minus_one))
      .raw();
}

inline gemmlowp::FixedPoint<int32_t, 0> ExpOfDiff(const SoftmaxParams& p, int32_t diff) {
  // input_multiplier / input_left_shift rescale the difference to Q5.26 (a multiplier >= 1).
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(diff) << p.input_left_shift);
  const int32_t rescaled = SaturatingRoundingDoublingHighMul(shifted, p.input_multiplier);
  return gemmlowp::exp_on_negative_values(
      gemmlowp::FixedPoint<int32_t, kScaledDiffIntegerBits>::FromRaw(rescaled));
}

template <typename OutT, int32_t kMin, int32_t kMax>
void SoftmaxFromS8(const SoftmaxParams& p, const int8_t* input, OutT* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth, output += p.depth) {
    int32_t max_in_row = -128;
    for (int32_t c = 0; c < p.depth; ++c)
      max_in_row = input[c] > max_in_row ? input[c] : max_in_row;
    gemmlowp::FixedPoint<int32_t, kAccumulationIntegerBits> sum =
        gemmlowp::FixedPoint<int32_t, kAccumulationIntegerBits>::Zero();
    for (int32_t c = 0; c < p.depth; ++c) {
      const int32_t diff = input[c] - max_in_row;
      if (diff >= p.diff_min) {
        sum = sum + gemmlowp::Rescale<kAccumulationIntegerBits>(ExpOfDiff(p, diff));
      }
    }
    int num_bits_over_unit;
    const gemmlowp::FixedPoint<int32_t, 0> scale = gemmlowp::FixedPoint<int32_t, 0>::FromRaw(
        Reciprocal(sum.raw(), kAccumulationIntegerBits, &num_bits_over_unit));
    const int exponent = num_bits_over_unit + 31 - static_cast<int>(sizeof(OutT) * 8);
    for (int32_t c = 0; c < p.depth; ++c) {
      const int32_t diff = input[c] - max_in_row;
      if (diff >= p.diff_min) {
        const int32_t unsat = RoundingDivideByPOT((scale * ExpOfDiff(p, diff)).raw(), exponent);
        output[c] = static_cast<OutT>(Clamp(unsat + kMin, kMin, kMax));
      } else {
        output[c] = static_cast<OutT>(kMin);
      }
    }
  }
}

// Table lookup with interpolation: 512 intervals indexed by the top 9 bits of value.
inline int16_t Lookup(int16_t value, const int16_t* lut) {
  const int32_t index = 256 + (value >> 7);
  const int32_t offset = value & 0x7f;
  const int32_t base = lut[index];
  const int32_t slope = lut[index + 1] - lut[index];
  return static_cast<int16_t>(base + ((slope * offset + 64) >> 7));
}

}  // namespace

void SoftmaxS8(const SoftmaxParams& p, const int8_t* input, int8_t* output) {
  SoftmaxFromS8<int8_t, -128, 127>(p, input, output);
}

void SoftmaxS8S16(const SoftmaxParams& p, const int8_t* input, int16_t* output) {
  SoftmaxFromS8<int16_t, -32768, 32767>(p, input, output);
}

void SoftmaxS16(const SoftmaxParams& p, const int16_t* input, int16_t* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth, output += p.depth) {
    int32_t max_in_row = -32768;
    for (int32_t c = 0; c < p.depth; ++c)
      max_in_row = input[c] > max_in_row ? input[c] : max_in_row;
    // exp(x - max) in Q0.15, kept in the output buffer; the sum in Q16.15.
    int32_t sum = 0;
    for (int32_t c = 0; c < p.depth; ++c) {
      const int32_t scaled = MultiplyByQuantizedMultiplier(input[c] - max_in_row,
                                                           p.input_multiplier, p.input_left_shift);
      const int16_t centered = static_cast<int16_t>(Clamp(scaled + 32767, -32768, 32767));
      output[c] = Lookup(centered, p.exp_lut);
      sum += output[c];
    }
    const int headroom_plus_one = __builtin_clz(static_cast<uint32_t>(sum));
    const int32_t shifted_sum = static_cast<int32_t>(
        ((static_cast<int64_t>(sum) << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    const int16_t centered =
        static_cast<int16_t>(Clamp(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767));
    const int32_t reciprocal = Lookup(centered, p.recip_lut);
    const int right_shift = 31 - headroom_plus_one;
    const int64_t round = int64_t{1} << (right_shift - 1);
    for (int32_t c = 0; c < p.depth; ++c) {
      const int32_t result = static_cast<int32_t>(
          (static_cast<int64_t>(output[c]) * reciprocal + round) >> right_shift);
      output[c] = static_cast<int16_t>(Clamp(result, 0, 32767));
    }
  }
}

}  // namespace tr
