// CONV_2D, int8 and int16x8: im2col rows (gemm.h) with the input offset folded into the bias.
// Taps cut by padding hold the input zero point (int8: x + input_offset = 0) or 0 (int16), so
// they add nothing and every pixel starts from the folded bias.
#include "gemm.h"
#include "window.h"
#include "x86_kernels.h"

namespace tr {
namespace x86 {

#if defined(TR_X86_SIMD)
namespace {

// The im2col row of output pixel m: k_h x k_w x in_c values, padding taps set to `pad`.
template <typename Scheme, typename T>
void ConvRow(const ConvParams& p, const T* input, int32_t m, typename Scheme::Patch pad,
             typename Scheme::Patch* row) {
  const Taps ty = RowTaps(p, m / p.out_w, p.dil_h);
  const Taps tx = ColumnTaps(p, m % p.out_w, p.dil_w);
  const int32_t c = p.in_c;
  for (int32_t ky = 0; ky < p.k_h; ++ky) {
    typename Scheme::Patch* dst = row + ky * p.k_w * c;
    if (ky < ty.lo || ky >= ty.hi) {
      FillSpan(dst, p.k_w * c, pad);
      continue;
    }
    const T* src = input + static_cast<size_t>(ty.origin + ky * p.dil_h) * p.in_w * c;
    FillSpan(dst, tx.lo * c, pad);
    if (p.dil_w == 1) {  // the taps inside the input are contiguous
      const T* x = src + static_cast<size_t>(tx.origin + tx.lo) * c;
      ConvertSpan(x, dst + tx.lo * c, (tx.hi - tx.lo) * c);
    } else {
      for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
        ConvertSpan(src + static_cast<size_t>(tx.origin + kx * p.dil_w) * c, dst + kx * c, c);
      }
    }
    FillSpan(dst + tx.hi * c, (p.k_w - tx.hi) * c, pad);
  }
}

}  // namespace

bool ConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  using Scheme = SchemeS8;
  const auto& f = Prepared<PackedFilter<Scheme>>(p, [&p] {
    return PackedFilter<Scheme>(p.out_c, p.k_h * p.k_w * p.in_c, p.filter, p.bias_folded, nullptr,
                                p.multiplier, p.shift);
  });
  const auto pad = Scheme::Convert(static_cast<int8_t>(-p.input_offset));
  const auto fill = [&](int32_t m, Scheme::Patch* row) { ConvRow<Scheme>(p, input, m, pad, row); };
  GemmS8(f, p.out_h * p.out_w, fill, p.output_offset, p.act_min, p.act_max, output);
  return true;
}

bool ConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  const auto& f = Prepared<PackedFilter<PairsS16>>(p, [&p] {
    return PackedFilter<PairsS16>(p.out_c, p.k_h * p.k_w * p.in_c, p.filter, nullptr, p.bias64,
                                  p.multiplier, p.shift);
  });
  const auto fill = [&](int32_t m, int16_t* row) { ConvRow<PairsS16>(p, input, m, 0, row); };
  GemmS16(f, p.out_h * p.out_w, fill, p.act_min, p.act_max, output);
  return true;
}

#else
bool ConvS8(const ConvParams&, const int8_t*, int8_t*) { return false; }
bool ConvS16(const ConvParams&, const int16_t*, int16_t*) { return false; }
#endif

}  // namespace x86
}  // namespace tr
