// DEQUANTIZE, int8/int16 -> float (TFLite Micro's reference Dequantize).
#include "kernels.h"

namespace tr {
namespace {

// TFLite computes float(double(scale) * (x - zero point)). That double product of a float
// (24-bit significand) and an integer below 2^17 is exact, so rounding it to float once gives
// the correctly rounded float product: the same bits as one float multiplication (the
// Cortex-M4's single-precision FPU, no soft-float double).
template <typename T>
void Dequantize(const QuantizeParams& p, const T* input, float* output) {
  const float scale = *p.scale;
  for (int32_t i = 0; i < p.size; ++i) {
    output[i] = static_cast<float>(input[i] - p.input_offset) * scale;
  }
}

}  // namespace

void DequantizeS8F32(const QuantizeParams& p, const int8_t* input, float* output) {
  Dequantize(p, input, output);
}

void DequantizeS16F32(const QuantizeParams& p, const int16_t* input, float* output) {
  Dequantize(p, input, output);
}

}  // namespace tr
