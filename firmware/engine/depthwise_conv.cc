// DEPTHWISE_CONV_2D, int8 and int16x8 (TFLite Micro reference: per-channel requantization).
#include "kernels.h"
#include "requantize.h"
#include "window.h"
#include "x86_hook.h"

namespace tr {
namespace {

constexpr int32_t kBlock = 32;  // channels accumulated together (stack: kBlock accumulators)

// Generic path: any depth multiplier, one output channel at a time.
template <typename T, typename Acc, bool kInt8>
void DepthwiseGeneric(const ConvParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      for (int32_t oc = 0; oc < p.out_c; ++oc) {
        const int32_t ic = oc / p.depth_multiplier;
        Acc acc = 0;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
            const int32_t x =
                input[((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * p.in_c +
                      ic];
            const int32_t w = p.filter[(ky * p.k_w + kx) * p.out_c + oc];
            acc += kInt8 ? w * (x + p.input_offset) : w * x;
          }
        }
        if constexpr (kInt8) {
          *output++ = Requantize(p, static_cast<int32_t>(acc) + p.bias32[oc], oc);
        } else {
          *output++ = Requantize(p, acc + p.bias64[oc], oc);
        }
      }
    }
  }
}

// Depth multiplier 1: channels are contiguous in input, filter and output.
template <typename T, typename Acc, bool kInt8>
void DepthwiseMultiplier1(const ConvParams& p, const T* input, T* output) {
  const int32_t channels = p.in_c;
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      const bool full = ty.lo == 0 && ty.hi == p.k_h && tx.lo == 0 && tx.hi == p.k_w;
      for (int32_t c0 = 0; c0 < channels; c0 += kBlock) {
        const int32_t n = channels - c0 < kBlock ? channels - c0 : kBlock;
        Acc acc[kBlock];
        for (int32_t c = 0; c < n; ++c) {
          if constexpr (kInt8) {
            acc[c] = full ? p.bias_folded[c0 + c] : p.bias32[c0 + c];
          } else {
            acc[c] = p.bias64[c0 + c];
          }
        }
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
            const T* x =
                input +
                ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * channels + c0;
            const int8_t* w = p.filter + (ky * p.k_w + kx) * channels + c0;
            if (kInt8 && !full) {
              for (int32_t c = 0; c < n; ++c) acc[c] += w[c] * (x[c] + p.input_offset);
            } else {
              for (int32_t c = 0; c < n; ++c) acc[c] += static_cast<int32_t>(w[c]) * x[c];
            }
          }
        }
        for (int32_t c = 0; c < n; ++c) output[c0 + c] = Requantize(p, acc[c], c0 + c);
      }
      output += channels;
    }
  }
}

}  // namespace

void DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  TR_TRY_X86(DepthwiseConvS8, p, input, output);
  if (p.depth_multiplier == 1) {
    DepthwiseMultiplier1<int8_t, int32_t, true>(p, input, output);
  } else {
    DepthwiseGeneric<int8_t, int32_t, true>(p, input, output);
  }
}

void DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(DepthwiseConvS16, p, input, output);
  if (p.depth_multiplier == 1) {
    DepthwiseMultiplier1<int16_t, int64_t, false>(p, input, output);
  } else {
    DepthwiseGeneric<int16_t, int64_t, false>(p, input, output);
  }
}

}  // namespace tr
