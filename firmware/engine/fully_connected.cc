// FULLY_CONNECTED, int8 and int16x8 (TFLite Micro reference kernels).
#include "dot.h"
#include "fixed_point.h"
#include "kernels.h"

namespace tr {

void FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      const int32_t acc = p.bias_folded[u] + DotS8(input, w, p.depth);  // folded input offset
      *output++ =
          RequantizeS8(acc, p.multiplier[u], p.shift[u], p.output_offset, p.act_min, p.act_max);
    }
  }
}

void FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output) {
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      const int64_t acc = DotS16(input, w, p.depth) + p.bias64[u];
      *output++ = RequantizeS16(acc, p.multiplier[u], p.shift[u], p.act_min, p.act_max);
    }
  }
}

}  // namespace tr
