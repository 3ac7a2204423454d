// The int8 core shared by CONV_2D and FULLY_CONNECTED: two inputs (output pixels or rows) times
// every filter row (output channels or units), two channels at a time, requantized to int8.
#ifndef TINYROBUST_GEMM_S8_H_
#define TINYROBUST_GEMM_S8_H_

#include <stdint.h>

#include "dot.h"
#include "requantize.h"

namespace tr {

// out[i * channels + c] for inputs i < n (1 or 2) and channels c < channels: bias_folded[c] +
// the dot product of input i and filter row c (input offset folded into the bias), requantized
// by Requant (requantize.h; Requant::Fits must hold for these channels). Params: ConvParams or
// FullyConnectedParams; dot(w0, w1, acc) adds the 2 x 2 block of both inputs and filter rows w0,
// w1 to acc (Dot2x2 of dot.h; the second input may be anything when n == 1).
template <typename Requant, typename Params, typename Dot>
void GemmS8(const Params& p, Dot dot, int32_t n, int32_t depth, int32_t channels, int8_t* out) {
  const OutputRange output(p);
  const int32_t* bias = p.bias_folded;
  const int8_t* w = p.filter;
  int32_t c = 0;
  for (; c + 1 < channels; c += 2, w += 2 * depth) {
    int32_t acc[4] = {bias[c], bias[c + 1], bias[c], bias[c + 1]};
    dot(w, w + depth, acc);
    const Requant r0(p, c), r1(p, c + 1);
    StorePair(out + c, output.Pair(r0.Scale(acc[0]), r1.Scale(acc[1])));
    if (n == 2) StorePair(out + channels + c, output.Pair(r0.Scale(acc[2]), r1.Scale(acc[3])));
  }
  if (c < channels) {  // an odd last channel: computed twice, stored once
    int32_t acc[4] = {bias[c], bias[c], bias[c], bias[c]};
    dot(w, w, acc);
    const Requant r(p, c);
    out[c] = output(r.Scale(acc[0]));
    if (n == 2) out[channels + c] = output(r.Scale(acc[2]));
  }
}

}  // namespace tr

#endif  // TINYROBUST_GEMM_S8_H_
