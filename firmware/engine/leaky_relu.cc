// LEAKY_RELU, int8 and int16 (TFLite Micro reference QuantizeLeakyRelu): x - input zero point,
// rescaled by the identity multiplier when >= 0, else by alpha's, plus the output zero point.
#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

template <typename T, int32_t kMin, int32_t kMax>
void LeakyRelu(const LeakyReluParams& p, const T* input, T* output) {
  for (int32_t i = 0; i < p.size; ++i) {
    const int32_t x = input[i] - p.input_offset;
    int32_t y;
    if (x >= 0) {
      y = MultiplyByQuantizedMultiplier(x, p.identity_multiplier, p.identity_shift);
    } else {
      y = MultiplyByQuantizedMultiplier(x, p.alpha_multiplier, p.alpha_shift);
      if (p.alpha_negative) y = -y;
    }
    output[i] = static_cast<T>(Clamp(y + p.output_offset, kMin, kMax));
  }
}

}  // namespace

void LeakyReluS8(const LeakyReluParams& p, const int8_t* input, int8_t* output) {
  LeakyRelu<int8_t, -128, 127>(p, input, output);
}

void LeakyReluS16(const LeakyReluParams& p, const int16_t* input, int16_t* output) {
  LeakyRelu<int16_t, -32768, 32767>(p, input, output);
}

}  // namespace tr
