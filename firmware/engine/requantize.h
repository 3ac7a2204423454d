// Per-channel requantization of an accumulator to the output type, with the parameters of a
// convolution or fully connected op (multiplier, shift, output_offset, act_min, act_max):
// an int32 accumulator gives int8 (int8 kernels), an int64 accumulator int16 (int16x8 kernels).
#ifndef TINYROBUST_REQUANTIZE_H_
#define TINYROBUST_REQUANTIZE_H_

#include <stdint.h>

#include "fixed_point.h"

namespace tr {

template <typename Params>
inline int8_t Requantize(const Params& p, int32_t acc, int32_t channel) {
  return RequantizeS8(acc, p.multiplier[channel], p.shift[channel], p.output_offset, p.act_min,
                      p.act_max);
}

template <typename Params>
inline int16_t Requantize(const Params& p, int64_t acc, int32_t channel) {
  return RequantizeS16(acc, p.multiplier[channel], p.shift[channel], p.act_min, p.act_max);
}

}  // namespace tr

#endif  // TINYROBUST_REQUANTIZE_H_
