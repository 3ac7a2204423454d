// FULLY_CONNECTED, int8 and int16x8 (TFLite Micro reference kernels).
#include "dot.h"
#include "kernels.h"
#include "requantize.h"
#include "x86_hook.h"

namespace tr {

void FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  TR_TRY_X86(FullyConnectedS8, p, input, output);
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      const int32_t acc = p.bias_folded[u] + DotS8(input, w, p.depth);  // folded input offset
      *output++ = Requantize(p, acc, u);
    }
  }
}

void FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(FullyConnectedS16, p, input, output);
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      const int64_t acc = DotS16(input, w, p.depth) + p.bias64[u];
      *output++ = Requantize(p, acc, u);
    }
  }
}

}  // namespace tr
