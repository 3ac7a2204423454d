// ADD, SUB and SQUARED_DIFFERENCE, int8 and int16 (TFLite Micro reference: rescale both inputs
// to a common scale with left_shift headroom; add, subtract or square the difference; rescale to
// the output). Same-shape ADD has its own kernels (AddS8, AddS16); broadcasting, a constant
// input, SUB and SQUARED_DIFFERENCE go through broadcast.h.
#include "broadcast.h"
#include "fixed_point.h"
#include "kernels.h"
#include "rescale.h"
#include "x86_hook.h"

namespace tr {
namespace {

// One input's term of the sum: (offset + x) << left_shift, rescaled ("smaller than one"
// multiplier, shift <= 0), through rescale.h's identical MulShift.
inline int32_t InputTerm(int32_t x, int32_t offset, int32_t left_shift, int32_t multiplier,
                         int32_t shift) {
  return MulShift((offset + x) * (1 << left_shift), multiplier, shift);
}

// The output value of a sum of the two terms, with the op's constants copied once (so that
// stores to the output, which could alias the parameters for all the compiler knows, do not
// reload them).
struct Output {
  int32_t multiplier, shift, offset, lo, hi;

  template <typename Params>
  explicit Output(const Params& p)
      : multiplier(p.output_multiplier),
        shift(p.output_shift),
        offset(p.output_offset),
        lo(p.act_min),
        hi(p.act_max) {}

  int32_t operator()(int32_t sum) const {
    return Clamp(MulShift(sum, multiplier, shift) + offset, lo, hi);
  }
};

inline int64_t Magnitude(int32_t x) { return x < 0 ? -int64_t{x} : x; }

// How the two rescaled input terms combine before the output rescaling.
enum class Combine { kSum, kDifference, kSquaredDifference };

template <Combine kCombine>
inline int32_t Combined(int32_t t1, int32_t t2) {
  if (kCombine == Combine::kSum) return t1 + t2;
  if (kCombine == Combine::kDifference) return t1 - t2;
  return (t1 - t2) * (t1 - t2);
}

// The op on broadcast int8 inputs: each input's term is tabulated by value once per call.
template <Combine kCombine>
void CombineS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  int32_t term1[256];
  int32_t term2[256];
  for (int32_t x = -128; x < 128; ++x) {
    term1[x + 128] =
        InputTerm(x, p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift);
    term2[x + 128] =
        InputTerm(x, p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift);
  }
  const int32_t* by_value1 = term1 + 128;
  const int32_t* by_value2 = term2 + 128;
  const Output rescale(p);
  BroadcastBinary(p, input1, input2, output, [&](int8_t x1, int8_t x2) {
    return rescale(Combined<kCombine>(by_value1[x1], by_value2[x2]));
  });
}

// The same for int16 inputs, each term computed as it is needed.
template <Combine kCombine>
void CombineS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                int16_t* output) {
  const Output rescale(p);
  BroadcastBinary(p, input1, input2, output, [&](int16_t x1, int16_t x2) {
    const int32_t t1 =
        InputTerm(x1, p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift);
    const int32_t t2 =
        InputTerm(x2, p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift);
    return rescale(Combined<kCombine>(t1, t2));
  });
}

}  // namespace

// int8: each input term depends on one byte only, so both are tabulated once per call (256
// values each) and the loop looks them up. When the sum provably stays within +-2^30, the
// output shift is negative and the activation range is the whole int8 range, the output
// rescaling takes rescale.h's SMMULR and SSAT forms.
void AddS8(const AddParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  TR_TRY_X86(AddS8, p, input1, input2, output);
  int32_t term1[256];
  int32_t term2[256];
  int64_t largest1 = 0;
  int64_t largest2 = 0;
  for (int32_t x = -128; x < 128; ++x) {
    const int32_t t1 =
        InputTerm(x, p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift);
    const int32_t t2 =
        InputTerm(x, p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift);
    term1[x + 128] = t1;
    term2[x + 128] = t2;
    if (Magnitude(t1) > largest1) largest1 = Magnitude(t1);
    if (Magnitude(t2) > largest2) largest2 = Magnitude(t2);
  }
  const int32_t* by_value1 = term1 + 128;  // indexed by the input value
  const int32_t* by_value2 = term2 + 128;
  const int32_t size = p.size;
  const bool fast = largest1 + largest2 < (int64_t{1} << 30) && p.output_shift < 0 &&
                    p.act_min == -128 && p.act_max == 127;
  if (fast) {
    const int32_t multiplier = p.output_multiplier;
    const int32_t shift = p.output_shift;
    const int32_t offset = p.output_offset;
    for (int32_t i = 0; i < size; ++i) {
      const int32_t sum = by_value1[input1[i]] + by_value2[input2[i]];
      output[i] =
          static_cast<int8_t>(SaturateS8(MulShiftRightSmall(sum, multiplier, shift) + offset));
    }
    return;
  }
  const Output rescale(p);
  for (int32_t i = 0; i < size; ++i) {
    output[i] = static_cast<int8_t>(rescale(by_value1[input1[i]] + by_value2[input2[i]]));
  }
}

void AddS16(const AddParams& p, const int16_t* input1, const int16_t* input2, int16_t* output) {
  TR_TRY_X86(AddS16, p, input1, input2, output);
  const Output rescale(p);
  const int32_t size = p.size;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t sum =
        InputTerm(input1[i], p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift) +
        InputTerm(input2[i], p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift);
    output[i] = static_cast<int16_t>(rescale(sum));
  }
}

void AddBroadcastS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2,
                    int8_t* output) {
  CombineS8<Combine::kSum>(p, input1, input2, output);
}

void AddBroadcastS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS8<Combine::kSum>(p, operands.first, operands.second, output);
}

void AddBroadcastS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                     int16_t* output) {
  CombineS16<Combine::kSum>(p, input1, input2, output);
}

void AddBroadcastS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS16<Combine::kSum>(p, operands.first, operands.second, output);
}

void SubS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  CombineS8<Combine::kDifference>(p, input1, input2, output);
}

void SubS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS8<Combine::kDifference>(p, operands.first, operands.second, output);
}

void SubS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2, int16_t* output) {
  CombineS16<Combine::kDifference>(p, input1, input2, output);
}

void SubS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS16<Combine::kDifference>(p, operands.first, operands.second, output);
}

void SquaredDifferenceS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2,
                         int8_t* output) {
  CombineS8<Combine::kSquaredDifference>(p, input1, input2, output);
}

void SquaredDifferenceS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS8<Combine::kSquaredDifference>(p, operands.first, operands.second, output);
}

void SquaredDifferenceS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                          int16_t* output) {
  CombineS16<Combine::kSquaredDifference>(p, input1, input2, output);
}

void SquaredDifferenceS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  const auto operands = WithConstant(p, input);
  CombineS16<Combine::kSquaredDifference>(p, operands.first, operands.second, output);
}

}  // namespace tr
