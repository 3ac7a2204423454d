// FULLY_CONNECTED, int8 and int16x8 (TFLite Micro reference kernels).
#include "dot.h"
#include "gemm_s8.h"
#include "kernels.h"
#include "requantize.h"
#include "x86_hook.h"

namespace tr {

namespace {

// Rows two at a time (the last may be alone).
template <typename Requant>
void FullyConnectedS8With(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  for (int32_t r = 0; r < p.rows; r += 2) {
    const int32_t n = p.rows - r < 2 ? 1 : 2;
    const int8_t* x = input + r * p.depth;
    const auto dot = [&](const int8_t* w0, const int8_t* w1, int32_t acc[4]) {
      Dot2x2(x, (n - 1) * p.depth, w0, w1, p.depth, acc);
    };
    GemmS8<Requant>(p, dot, n, p.depth, p.units, output + r * p.units);
  }
}

}  // namespace

void FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output) {
  TR_TRY_X86(FullyConnectedS8, p, input, output);
  if (RightShiftRequant::Fits(p, p.units)) {
    FullyConnectedS8With<RightShiftRequant>(p, input, output);
  } else {
    FullyConnectedS8With<ExactRequant>(p, input, output);
  }
}

void FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(FullyConnectedS16, p, input, output);
  for (int32_t r = 0; r < p.rows; ++r, input += p.depth) {
    const int8_t* w = p.filter;
    for (int32_t u = 0; u < p.units; ++u, w += p.depth) {
      const int64_t acc = DotS16(input, w, p.depth) + p.bias64[u];
      *output++ = Requantize(p, acc, u);
    }
  }
}

}  // namespace tr
