// TRANSPOSE_CONV, int8 (per-channel weights, int32 sums) and int16x8 (int64 sums), in TFLite
// Micro's arithmetic (reference_integer_ops::TransposeConv). TFLite Micro scatters each input
// pixel into a scratch copy of the output; here each output value gathers the input pixels and
// taps that reach it (input y = (output y + pad_h - tap y) / stride_h when that divides), the
// same integer sum without a scratch buffer.
#include "kernels.h"
#include "requantize.h"

namespace tr {
namespace {

// The input index along one axis that tap k brings to output index o, or -1 where none does.
inline int32_t Source(int32_t o, int32_t k, int32_t pad, int32_t stride, int32_t size) {
  const int32_t t = o + pad - k;
  if (t < 0 || t % stride != 0 || t / stride >= size) return -1;
  return t / stride;
}

template <typename T, typename Acc>
void TransposeConv(const ConvParams& p, const T* input, T* output, const Acc* bias) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      for (int32_t oc = 0; oc < p.out_c; ++oc) {
        Acc acc = 0;
        for (int32_t ky = 0; ky < p.k_h; ++ky) {
          const int32_t iy = Source(oy, ky, p.pad_h, p.stride_h, p.in_h);
          if (iy < 0) continue;
          for (int32_t kx = 0; kx < p.k_w; ++kx) {
            const int32_t ix = Source(ox, kx, p.pad_w, p.stride_w, p.in_w);
            if (ix < 0) continue;
            const T* x = input + (iy * p.in_w + ix) * p.in_c;
            const int8_t* w = p.filter + ((oc * p.k_h + ky) * p.k_w + kx) * p.in_c;
            for (int32_t ic = 0; ic < p.in_c; ++ic) {
              acc += static_cast<Acc>(x[ic] + p.input_offset) * w[ic];
            }
          }
        }
        *output++ = Requantize(p, static_cast<Acc>(acc + bias[oc]), oc);
      }
    }
  }
}

}  // namespace

void TransposeConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  TransposeConv<int8_t, int32_t>(p, input, output, p.bias32);
}

void TransposeConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  TransposeConv<int16_t, int64_t>(p, input, output, p.bias64);
}

}  // namespace tr
