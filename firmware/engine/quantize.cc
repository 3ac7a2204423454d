// QUANTIZE, float -> int8/int16 and int8/int16 -> int8/int16 (TFLite Micro's reference
// AffineQuantize and Requantize).
#include <limits>

#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

// round(x / scale) as int32: a float division, then TfLiteRound (std::round: halves away from
// zero), done here without libm (the firmware links none). Below 2^23 the fraction v - trunc(v)
// is exact; from there on every float is an integer. TFLite casts the rounded float to int32
// unchecked; here values beyond int32 saturate (what the Cortex-M's VCVT does) and NaN gives 0.
inline int32_t RoundedSteps(float x, float scale) {
  const float v = x / scale;
  if (v >= 2147483648.0f) return std::numeric_limits<int32_t>::max();
  if (v < -2147483648.0f) return std::numeric_limits<int32_t>::min();
  if (!(v >= -2147483648.0f)) return 0;       // NaN
  const int32_t t = static_cast<int32_t>(v);  // toward zero
  const float fraction = v - static_cast<float>(t);
  if (fraction >= 0.5f) return t + 1;
  if (fraction <= -0.5f) return t - 1;
  return t;
}

template <typename T>
void AffineQuantize(const QuantizeParams& p, const float* input, T* output) {
  const float scale = *p.scale;
  const int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  for (int32_t i = 0; i < p.size; ++i) {
    const int64_t q = static_cast<int64_t>(RoundedSteps(input[i], scale)) + p.output_offset;
    output[i] = static_cast<T>(q < lo ? lo : (q > hi ? hi : q));
  }
}

template <typename In, typename Out>
void Requantize(const QuantizeParams& p, const In* input, Out* output) {
  const int32_t lo = std::numeric_limits<Out>::min(), hi = std::numeric_limits<Out>::max();
  for (int32_t i = 0; i < p.size; ++i) {
    const int32_t x =
        MultiplyByQuantizedMultiplier(input[i] - p.input_offset, p.multiplier, p.shift);
    output[i] = static_cast<Out>(Clamp(x + p.output_offset, lo, hi));
  }
}

}  // namespace

void QuantizeF32S8(const QuantizeParams& p, const float* input, int8_t* output) {
  AffineQuantize(p, input, output);
}

void QuantizeF32S16(const QuantizeParams& p, const float* input, int16_t* output) {
  AffineQuantize(p, input, output);
}

void RequantizeS8S8(const QuantizeParams& p, const int8_t* input, int8_t* output) {
  Requantize(p, input, output);
}

void RequantizeS8S16(const QuantizeParams& p, const int8_t* input, int16_t* output) {
  Requantize(p, input, output);
}

void RequantizeS16S8(const QuantizeParams& p, const int16_t* input, int8_t* output) {
  Requantize(p, input, output);
}

void RequantizeS16S16(const QuantizeParams& p, const int16_t* input, int16_t* output) {
  Requantize(p, input, output);
}

}  // namespace tr
