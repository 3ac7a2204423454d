// REDUCE_MAX and REDUCE_MIN, int8 (TFLite Micro's ReduceGeneric; it reduces no int16): each output
// element is the largest (smallest) raw input value of its group; the values are not requantized.
// SUM, int8 and int16 (TFLite Micro's QuantizedMeanOrSum): each group's int32 sum, less group
// input zero points, requantized.
#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

// Calls visit(x) for each element x of a 5-D walk from `base`: counts n, strides s (elements).
template <typename T, typename Visit>
void Walk(const int32_t* n, const int32_t* s, const T* base, Visit visit) {
  for (int32_t i0 = 0; i0 < n[0]; ++i0) {
    for (int32_t i1 = 0; i1 < n[1]; ++i1) {
      for (int32_t i2 = 0; i2 < n[2]; ++i2) {
        for (int32_t i3 = 0; i3 < n[3]; ++i3) {
          const T* x = base + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
          for (int32_t i4 = 0; i4 < n[4]; ++i4, x += s[4]) visit(x);
        }
      }
    }
  }
}

// Over the kept dimensions, in output order, the largest (kMax) or smallest value of each group
// over the reduced dimensions, starting from -128 (127) as TFLite Micro does.
template <bool kMax>
void Reduce(const ReduceParams& p, const int8_t* input, int8_t* output) {
  Walk(p.count, p.stride, input, [&](const int8_t* group) {
    int8_t best = kMax ? -128 : 127;
    Walk(p.reduce_count, p.reduce_stride, group, [&](const int8_t* x) {
      if (kMax ? *x > best : *x < best) best = *x;
    });
    *output++ = best;
  });
}

template <typename T>
void Sum(const SumParams& p, const T* input, T* output) {
  constexpr int32_t kMin = sizeof(T) == 1 ? -128 : -32768;
  constexpr int32_t kMax = sizeof(T) == 1 ? 127 : 32767;
  const uint32_t zero = static_cast<uint32_t>(p.input_offset) * static_cast<uint32_t>(p.group);
  Walk(p.count, p.stride, input, [&](const T* group) {
    uint32_t sum = zero;  // wraps as TFLite Micro's int32 sum does
    Walk(p.reduce_count, p.reduce_stride, group,
         [&](const T* x) { sum += static_cast<uint32_t>(*x); });
    const int32_t scaled =
        MultiplyByQuantizedMultiplier(static_cast<int32_t>(sum), p.multiplier, p.shift);
    *output++ = static_cast<T>(Clamp(scaled + p.output_offset, kMin, kMax));
  });
}

}  // namespace

void SumS8(const SumParams& p, const int8_t* input, int8_t* output) { Sum(p, input, output); }

void SumS16(const SumParams& p, const int16_t* input, int16_t* output) { Sum(p, input, output); }

void ReduceMaxS8(const ReduceParams& p, const int8_t* input, int8_t* output) {
  Reduce<true>(p, input, output);
}

void ReduceMinS8(const ReduceParams& p, const int8_t* input, int8_t* output) {
  Reduce<false>(p, input, output);
}

}  // namespace tr
