// The int8 core shared by CONV_2D and FULLY_CONNECTED: two inputs (output pixels or rows) times
// every filter row (output channels or units), two channels at a time, requantized to int8.
#ifndef TINYROBUST_GEMM_S8_H_
#define TINYROBUST_GEMM_S8_H_

#include <stdint.h>

#include "dot.h"
#include "requantize.h"

namespace tr {

// out[i * channels + c] for inputs i < n (1 or 2; x0 + dx is read even when n == 1), channels
// c < channels: bias_folded[c] + the dot product of input i and filter row c (depth values,
// input offset folded into the bias), requantized by Requant (requantize.h; Requant::Fits must
// hold for these channels). Params: ConvParams or FullyConnectedParams. Inlined, so that a
// constant dx reaches Dot2x2.
template <typename Requant, typename Params>
[[gnu::always_inline]] inline void GemmS8(const Params& p, const int8_t* x0, int32_t dx, int32_t n,
                                          int32_t depth, int32_t channels, int8_t* out) {
  const int8_t* w = p.filter;
  for (int32_t c = 0; c < channels; c += 2, w += 2 * depth) {
    const int32_t c1 = c + 1 < channels ? c + 1 : c;  // an odd last channel computed twice
    int32_t acc[4] = {p.bias_folded[c], p.bias_folded[c1], p.bias_folded[c], p.bias_folded[c1]};
    Dot2x2(x0, dx, w, w + (c1 - c) * depth, depth, acc);
    const Requant r0(p, c), r1(p, c1);
    out[c] = ToOutput(p, r0.Scale(acc[0]));
    out[c1] = ToOutput(p, r1.Scale(acc[1]));
    if (n == 2) {
      out[channels + c] = ToOutput(p, r0.Scale(acc[2]));
      out[channels + c1] = ToOutput(p, r1.Scale(acc[3]));
    }
  }
}

}  // namespace tr

#endif  // TINYROBUST_GEMM_S8_H_
