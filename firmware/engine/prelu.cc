// PRELU, int8 (TFLite Micro reference BroadcastPrelu4DSlow): x - input zero point, rescaled
// when >= 0; else multiplied by alpha - alpha zero point and rescaled; plus the output zero point.
#include "fixed_point.h"
#include "kernels.h"

namespace tr {

void PreluS8(const PreluParams& p, const int8_t* input, int8_t* output) {
  for (int32_t i = 0, a = 0; i < p.size; ++i, a = a + 1 == p.alpha_size ? 0 : a + 1) {
    const int32_t x = p.input_offset + input[i];
    int32_t y;
    if (x >= 0) {
      y = MultiplyByQuantizedMultiplier(x, p.multiplier_1, p.shift_1);
    } else {
      const int32_t alpha = p.alpha_offset + p.alpha[a];
      y = MultiplyByQuantizedMultiplier(x * alpha, p.multiplier_2, p.shift_2);
    }
    output[i] = static_cast<int8_t>(Clamp(y + p.output_offset, -128, 127));
  }
}

}  // namespace tr
