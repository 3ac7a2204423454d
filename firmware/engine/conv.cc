// CONV_2D, int8 and int16x8 (TFLite Micro reference: per-channel requantization).
#include "dot.h"
#include "fixed_point.h"
#include "kernels.h"
#include "window.h"

namespace tr {
namespace {

// Sum of w * (x + offset) over n contiguous int8 values (windows cut by padding).
inline int32_t DotOffset(const int8_t* x, const int8_t* w, int32_t n, int32_t offset) {
  int32_t acc = 0;
  for (int32_t i = 0; i < n; ++i) acc += (x[i] + offset) * w[i];
  return acc;
}

}  // namespace

void ConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  const int32_t row = p.k_w * p.in_c;  // one filter row, contiguous in input when dil_w == 1
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const int32_t y0 = oy * p.stride_h - p.pad_h;
    int32_t ky0, ky1;
    ValidTaps(y0, p.k_h, p.dil_h, p.in_h, &ky0, &ky1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const int32_t x0 = ox * p.stride_w - p.pad_w;
      int32_t kx0, kx1;
      ValidTaps(x0, p.k_w, p.dil_w, p.in_w, &kx0, &kx1);
      const bool full = ky0 == 0 && ky1 == p.k_h && kx0 == 0 && kx1 == p.k_w && p.dil_w == 1;
      const int8_t* filter = p.filter;
      for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * row) {
        int32_t acc;
        if (full) {
          acc = p.bias_folded[oc];
          for (int32_t ky = 0; ky < p.k_h; ++ky) {
            const int8_t* x = input + ((y0 + ky * p.dil_h) * p.in_w + x0) * p.in_c;
            acc += DotS8(x, filter + ky * row, row);
          }
        } else {
          acc = p.bias32[oc];
          for (int32_t ky = ky0; ky < ky1; ++ky) {
            for (int32_t kx = kx0; kx < kx1; ++kx) {
              const int8_t* x = input + ((y0 + ky * p.dil_h) * p.in_w + x0 + kx * p.dil_w) * p.in_c;
              acc += DotOffset(x, filter + (ky * p.k_w + kx) * p.in_c, p.in_c, p.input_offset);
            }
          }
        }
        *output++ =
            RequantizeS8(acc, p.multiplier[oc], p.shift[oc], p.output_offset, p.act_min, p.act_max);
      }
    }
  }
}

void ConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const int32_t y0 = oy * p.stride_h - p.pad_h;
    int32_t ky0, ky1;
    ValidTaps(y0, p.k_h, p.dil_h, p.in_h, &ky0, &ky1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const int32_t x0 = ox * p.stride_w - p.pad_w;
      int32_t kx0, kx1;
      ValidTaps(x0, p.k_w, p.dil_w, p.in_w, &kx0, &kx1);
      const int8_t* filter = p.filter;
      for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * p.k_w * p.in_c) {
        int64_t acc = 0;
        for (int32_t ky = ky0; ky < ky1; ++ky) {
          for (int32_t kx = kx0; kx < kx1; ++kx) {
            const int16_t* x = input + ((y0 + ky * p.dil_h) * p.in_w + x0 + kx * p.dil_w) * p.in_c;
            acc += DotS16(x, filter + (ky * p.k_w + kx) * p.in_c, p.in_c);
          }
        }
        acc += p.bias64[oc];
        *output++ = RequantizeS16(acc, p.multiplier[oc], p.shift[oc], p.act_min, p.act_max);
      }
    }
  }
}

}  // namespace tr
