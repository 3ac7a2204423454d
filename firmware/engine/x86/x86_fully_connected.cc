// FULLY_CONNECTED, int8 and int16x8: each input row is one patch of the matrix product (gemm.h).
#include "gemm.h"
#include "x86_kernels.h"

namespace tr {
namespace x86 {

#if defined(TR_X86_SIMD)
bool FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  using Scheme = SchemeS8;
  const auto& f = Prepared<PackedFilter<Scheme>>(p, [&p] {
    return PackedFilter<Scheme>(p.units, p.depth, p.filter, p.bias_folded, nullptr, p.multiplier,
                                p.shift);
  });
  const auto fill = [&](int32_t r, Scheme::Patch* row) {
    ConvertSpan(input + static_cast<size_t>(r) * p.depth, row, p.depth);
  };
  GemmS8(f, p.rows, fill, p.output_offset, p.act_min, p.act_max, output);
  return true;
}

bool FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output) {
  const auto& f = Prepared<PackedFilter<PairsS16>>(p, [&p] {
    return PackedFilter<PairsS16>(p.units, p.depth, p.filter, nullptr, p.bias64, p.multiplier,
                                  p.shift);
  });
  const auto fill = [&](int32_t r, int16_t* row) {
    ConvertSpan(input + static_cast<size_t>(r) * p.depth, row, p.depth);
  };
  GemmS16(f, p.rows, fill, p.act_min, p.act_max, output);
  return true;
}

#else
bool FullyConnectedS8(const FullyConnectedParams&, const int8_t*, int8_t*) { return false; }
bool FullyConnectedS16(const FullyConnectedParams&, const int16_t*, int16_t*) { return false; }
#endif

}  // namespace x86
}  // namespace tr
