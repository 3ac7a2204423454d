// RESIZE_BILINEAR, int8 (TFLite Micro reference ResizeBilinearInteger: weights with 10
// fractional bits per axis, an int64 sum with 20, rounded half away from zero; TFLite Micro has
// no int16 kernel).
#include "kernels.h"

namespace tr {

void ResizeBilinearS8(const ResizeBilinearParams& p, const int8_t* input, int8_t* output) {
  const int32_t one = 1 << 10;
  const int32_t row = p.in_w * p.channels;
  for (int32_t y = 0; y < p.out_h; ++y) {
    const int8_t* top = input + p.y0[y] * row;
    const int8_t* bottom = input + p.y1[y] * row;
    const int32_t dy = p.dy[y];
    for (int32_t x = 0; x < p.out_w; ++x) {
      const int32_t left = p.x0[x] * p.channels;
      const int32_t right = p.x1[x] * p.channels;
      const int32_t dx = p.dx[x];
      for (int32_t c = 0; c < p.channels; ++c) {
        const int64_t sum = static_cast<int64_t>(top[left + c]) * (one - dy) * (one - dx) +
                            static_cast<int64_t>(bottom[left + c]) * dy * (one - dx) +
                            static_cast<int64_t>(top[right + c]) * (one - dy) * dx +
                            static_cast<int64_t>(bottom[right + c]) * dy * dx;
        const int64_t round = sum > 0 ? (1 << 19) : -(1 << 19);
        *output++ = static_cast<int8_t>((sum + round) / (1 << 20));
      }
    }
  }
}

}  // namespace tr
