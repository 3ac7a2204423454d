// RESIZE_NEAREST_NEIGHBOR, int8 and int16 (TFLite Micro reference: each output pixel is a copy
// of one input pixel; the host compiler computes which, with TFLite Micro's float arithmetic).
#include <string.h>

#include "kernels.h"

namespace tr {

void ResizeNearest(const ResizeNearestParams& p, const void* input, void* output) {
  const uint8_t* in = static_cast<const uint8_t*>(input);
  uint8_t* out = static_cast<uint8_t*>(output);
  for (int32_t y = 0; y < p.out_h; ++y) {
    const uint8_t* row = in + p.rows[y] * p.row_bytes;
    for (int32_t x = 0; x < p.out_w; ++x) {
      memcpy(out, row + p.cols[x] * p.pixel_bytes, p.pixel_bytes);
      out += p.pixel_bytes;
    }
  }
}

}  // namespace tr
