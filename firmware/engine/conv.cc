// CONV_2D, int8 and int16x8 (TFLite Micro reference: per-channel requantization).
#include "dot.h"
#include "kernels.h"
#include "requantize.h"
#include "window.h"
#include "x86_hook.h"

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
  TR_TRY_X86(ConvS8, p, input, output);
  const int32_t row = p.k_w * p.in_c;  // one filter row, contiguous in input when dil_w == 1
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      const bool full =
          ty.lo == 0 && ty.hi == p.k_h && tx.lo == 0 && tx.hi == p.k_w && p.dil_w == 1;
      const int8_t* filter = p.filter;
      for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * row) {
        int32_t acc;
        if (full) {  // no tap cut by padding: the input offset is folded into the bias
          acc = p.bias_folded[oc];
          for (int32_t ky = 0; ky < p.k_h; ++ky) {
            const int8_t* x = input + ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin) * p.in_c;
            acc += DotS8(x, filter + ky * row, row);
          }
        } else {
          acc = p.bias32[oc];
          for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
            for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
              const int32_t at = (ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w;
              const int8_t* w = filter + (ky * p.k_w + kx) * p.in_c;
              acc += DotOffset(input + at * p.in_c, w, p.in_c, p.input_offset);
            }
          }
        }
        *output++ = Requantize(p, acc, oc);
      }
    }
  }
}

void ConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(ConvS16, p, input, output);
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      const int8_t* filter = p.filter;
      for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * p.k_w * p.in_c) {
        int64_t acc = 0;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
            const int16_t* x =
                input + ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * p.in_c;
            acc += DotS16(x, filter + (ky * p.k_w + kx) * p.in_c, p.in_c);
          }
        }
        acc += p.bias64[oc];
        *output++ = Requantize(p, acc, oc);
      }
    }
  }
}

}  // namespace tr
