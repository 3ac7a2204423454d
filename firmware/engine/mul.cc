// MUL with broadcasting, int8 and int16 (TFLite Micro reference: the product of the offset
// inputs, rescaled by input1 scale * input2 scale / output scale, plus the output offset).
#include "broadcast.h"
#include "fixed_point.h"
#include "kernels.h"
#include "rescale.h"

namespace tr {
namespace {

template <typename T>
void Mul(const BinaryParams& p, const T* input1, const T* input2, T* output) {
  const int32_t offset1 = p.input1_offset;
  const int32_t offset2 = p.input2_offset;
  const int32_t multiplier = p.output_multiplier;
  const int32_t shift = p.output_shift;
  const int32_t offset = p.output_offset;
  const int32_t lo = p.act_min;
  const int32_t hi = p.act_max;
  BroadcastBinary(p, input1, input2, output, [=](T x1, T x2) {
    const int32_t product = (x1 + offset1) * (x2 + offset2);
    return Clamp(MulShift(product, multiplier, shift) + offset, lo, hi);
  });
}

}  // namespace

void MulS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  Mul(p, input1, input2, output);
}

void MulS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  const auto operands = WithConstant(p, input);
  Mul(p, operands.first, operands.second, output);
}

void MulS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2, int16_t* output) {
  Mul(p, input1, input2, output);
}

void MulS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  const auto operands = WithConstant(p, input);
  Mul(p, operands.first, operands.second, output);
}

}  // namespace tr
