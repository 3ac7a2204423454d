// AVERAGE_POOL_2D, int8 and int16 (TFLite Micro reference: average of the valid taps, rounded
// half away from zero; input and output share scale and zero point).
#include "fixed_point.h"
#include "kernels.h"
#include "window.h"

namespace tr {
namespace {

template <typename T>
void AveragePoolT(const PoolParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const int32_t y0 = oy * p.stride_h - p.pad_h;
    int32_t ky0, ky1;
    ValidTaps(y0, p.k_h, 1, p.in_h, &ky0, &ky1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const int32_t x0 = ox * p.stride_w - p.pad_w;
      int32_t kx0, kx1;
      ValidTaps(x0, p.k_w, 1, p.in_w, &kx0, &kx1);
      const int32_t count = (ky1 - ky0) * (kx1 - kx0);
      for (int32_t c = 0; c < p.channels; ++c) {
        int32_t acc = 0;
        for (int32_t ky = ky0; ky < ky1; ++ky) {
          const T* x = input + ((y0 + ky) * p.in_w + x0) * p.channels + c;
          for (int32_t kx = kx0; kx < kx1; ++kx) acc += x[kx * p.channels];
        }
        if (count > 0) {
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        }
        *output++ = static_cast<T>(Clamp(acc, p.act_min, p.act_max));
      }
    }
  }
}

}  // namespace

void AveragePoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  AveragePoolT(p, input, output);
}

void AveragePoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  AveragePoolT(p, input, output);
}

}  // namespace tr
