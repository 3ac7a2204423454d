// ADD of same-shape tensors, int8 and int16 (TFLite Micro reference: rescale both inputs to a
// common scale with left_shift headroom, add, rescale to the output).
#include "fixed_point.h"
#include "kernels.h"
#include "x86_hook.h"

namespace tr {
namespace {

// Right shift by -shift with rounding (shift <= 0), as TFLite's "smaller than one" multiplier.
inline int32_t Scale(int32_t x, int32_t multiplier, int32_t shift) {
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, multiplier), -shift);
}

template <typename T>
void AddT(const AddParams& p, const T* input1, const T* input2, T* output) {
  for (int32_t i = 0; i < p.size; ++i) {
    const int32_t a = (p.input1_offset + input1[i]) * (1 << p.left_shift);
    const int32_t b = (p.input2_offset + input2[i]) * (1 << p.left_shift);
    const int32_t sum = Scale(a, p.input1_multiplier, p.input1_shift) +
                        Scale(b, p.input2_multiplier, p.input2_shift);
    const int32_t out = Scale(sum, p.output_multiplier, p.output_shift) + p.output_offset;
    output[i] = static_cast<T>(Clamp(out, p.act_min, p.act_max));
  }
}

}  // namespace

void AddS8(const AddParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  TR_TRY_X86(AddS8, p, input1, input2, output);
  AddT(p, input1, input2, output);
}

void AddS16(const AddParams& p, const int16_t* input1, const int16_t* input2, int16_t* output) {
  TR_TRY_X86(AddS16, p, input1, input2, output);
  AddT(p, input1, input2, output);
}

}  // namespace tr
