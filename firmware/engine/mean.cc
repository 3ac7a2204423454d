// MEAN over height and width, int8 and int16 (TFLite Micro's reference kernel, QuantizedMeanOrSum):
// each channel's int32 sum over the count positions, less count input zero points, rescaled by
// multiplier and shift (1 / count folded in), plus the output zero point.
#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

template <typename T>
void Mean(const MeanParams& p, const T* input, T* output) {
  constexpr int32_t kMin = sizeof(T) == 1 ? -128 : -32768;
  constexpr int32_t kMax = sizeof(T) == 1 ? 127 : 32767;
  for (int32_t c = 0; c < p.channels; ++c) {
    const T* x = input + c;
    uint32_t sum = 0;  // wraps as TFLite's int32 sum does
    for (int32_t i = 0; i < p.count; ++i, x += p.channels) sum += static_cast<uint32_t>(*x);
    const int32_t shifted = static_cast<int32_t>(sum + static_cast<uint32_t>(p.input_offset) *
                                                           static_cast<uint32_t>(p.count));
    const int32_t scaled = MultiplyByQuantizedMultiplier(shifted, p.multiplier, p.shift);
    output[c] = static_cast<T>(Clamp(scaled + p.output_offset, kMin, kMax));
  }
}

}  // namespace

void MeanS8(const MeanParams& p, const int8_t* input, int8_t* output) { Mean(p, input, output); }

void MeanS16(const MeanParams& p, const int16_t* input, int16_t* output) { Mean(p, input, output); }

}  // namespace tr
