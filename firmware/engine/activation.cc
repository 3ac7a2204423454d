// RELU and RELU6 as separate ops, int8 and int16 (TFLite Micro reference: RELU rescales
// x - input zero point to the output scale, adds the output zero point and clamps; RELU6 clamps
// the raw input values).
#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

template <typename T>
void Activation(const ActivationParams& p, const T* input, T* output) {
  const int32_t size = p.size;
  if (!p.requantize) {
    for (int32_t i = 0; i < size; ++i)
      output[i] = static_cast<T>(Clamp(input[i], p.act_min, p.act_max));
    return;
  }
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x =
        MultiplyByQuantizedMultiplier(input[i] - p.input_offset, p.multiplier, p.shift);
    output[i] = static_cast<T>(Clamp(x + p.output_offset, p.act_min, p.act_max));
  }
}

}  // namespace

void ActivationS8(const ActivationParams& p, const int8_t* input, int8_t* output) {
  Activation(p, input, output);
}

void ActivationS16(const ActivationParams& p, const int16_t* input, int16_t* output) {
  Activation(p, input, output);
}

}  // namespace tr
