// GATHER, int8 (TFLite Micro reference: blocks of the input copied unchanged, in the order of
// the positions; the positions are constants checked by the host compiler).
#include <string.h>

#include "kernels.h"

namespace tr {

void Gather(const GatherParams& p, const void* input, void* output) {
  const uint8_t* in = static_cast<const uint8_t*>(input);
  uint8_t* out = static_cast<uint8_t*>(output);
  for (int32_t b = 0; b < p.batches; ++b) {
    const int32_t* positions = p.positions + b * p.count;
    for (int32_t o = 0; o < p.outer; ++o) {
      const uint8_t* row = in + (b * p.outer + o) * p.axis_size * p.block_bytes;
      for (int32_t c = 0; c < p.count; ++c) {
        memcpy(out, row + positions[c] * p.block_bytes, p.block_bytes);
        out += p.block_bytes;
      }
    }
  }
}

}  // namespace tr
