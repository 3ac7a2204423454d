// QUANTIZE, float -> int8/int16, int8/int16 -> int8/int16, uint8 -> int8 and int8 -> uint8
// (TFLite Micro's reference AffineQuantize and Requantize).
#include <limits>

#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

// round(x / scale) + zero_point as int32: a float division, then TfLiteRound (std::round:
// halves away from zero), done here without libm (the firmware links none). Below 2^23 the
// fraction v - trunc(v) is exact; from there on every float is an integer. TFLite casts the
// rounded float to int32 unchecked: the wheel (x86) gets INT32_MIN for NaN and for values
// beyond int32, and adds the zero point with wrap-around; so does this, on every target.
inline int32_t RoundedSteps(float x, float scale, int32_t zero_point) {
  const float v = x / scale;
  int32_t t = std::numeric_limits<int32_t>::min();
  if (v < 2147483648.0f && v >= -2147483648.0f) {
    t = static_cast<int32_t>(v);  // toward zero
    const float fraction = v - static_cast<float>(t);
    if (fraction >= 0.5f) t += 1;
    if (fraction <= -0.5f) t -= 1;
  }
  return static_cast<int32_t>(static_cast<uint32_t>(t) + static_cast<uint32_t>(zero_point));
}

template <typename T>
void AffineQuantize(const QuantizeParams& p, const float* input, T* output) {
  const float scale = *p.scale;
  const int32_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  for (int32_t i = 0; i < p.size; ++i) {
    output[i] = static_cast<T>(Clamp(RoundedSteps(input[i], scale, p.output_offset), lo, hi));
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

void RequantizeU8S8(const QuantizeParams& p, const uint8_t* input, int8_t* output) {
  Requantize(p, input, output);
}

void RequantizeS8U8(const QuantizeParams& p, const int8_t* input, uint8_t* output) {
  Requantize(p, input, output);
}

}  // namespace tr
