// MAX_POOL_2D, int8 and int16 (TFLite Micro reference: maximum of the valid taps, then the
// fused activation range).
#include "fixed_point.h"
#include "kernels.h"
#include "window.h"

namespace tr {
namespace {

template <typename T>
void MaxPoolT(const PoolParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const int32_t y0 = oy * p.stride_h - p.pad_h;
    int32_t ky0, ky1;
    ValidTaps(y0, p.k_h, 1, p.in_h, &ky0, &ky1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const int32_t x0 = ox * p.stride_w - p.pad_w;
      int32_t kx0, kx1;
      ValidTaps(x0, p.k_w, 1, p.in_w, &kx0, &kx1);
      for (int32_t c = 0; c < p.channels; ++c) {
        int32_t best = sizeof(T) == 1 ? -128 : -32768;  // the type's lowest value
        for (int32_t ky = ky0; ky < ky1; ++ky) {
          const T* x = input + ((y0 + ky) * p.in_w + x0) * p.channels + c;
          for (int32_t kx = kx0; kx < kx1; ++kx) {
            if (x[kx * p.channels] > best) best = x[kx * p.channels];
          }
        }
        *output++ = static_cast<T>(Clamp(best, p.act_min, p.act_max));
      }
    }
  }
}

}  // namespace

void MaxPoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  MaxPoolT(p, input, output);
}

void MaxPoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  MaxPoolT(p, input, output);
}

}  // namespace tr
