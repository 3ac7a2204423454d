// FULLY_CONNECTED, int8 and int16x8 (TFLite Micro reference kernels).
#include "fixed_point.h"
#include "kernels.h"

namespace tr {

void FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      int32_t acc = p.bias_folded[u];  // bias + input_offset * sum(w)
      for (int32_t d = 0; d < p.depth; ++d) acc += input[d] * w[d];
      *output++ =
          RequantizeS8(acc, p.multiplier[u], p.shift[u], p.output_offset, p.act_min, p.act_max);
    }
  }
}

void FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      int64_t acc = 0;
      for (int32_t d = 0; d < p.depth; ++d) acc += static_cast<int32_t>(input[d]) * w[d];
      acc += p.bias64[u];
      *output++ = RequantizeS16(acc, p.multiplier[u], p.shift[u], p.act_min, p.act_max);
    }
  }
}

}  // namespace tr
