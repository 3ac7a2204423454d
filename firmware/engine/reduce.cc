// REDUCE_MAX and REDUCE_MIN, int8 (TFLite Micro's ReduceGeneric; it reduces no int16): each output
// element is the largest (smallest) raw input value of its group; the values are not requantized.
#include "kernels.h"

namespace tr {
namespace {

// Calls visit(x) for each element x of a 5-D walk from `base`: counts n, strides s (elements).
template <typename Visit>
void Walk(const int32_t* n, const int32_t* s, const int8_t* base, Visit visit) {
  for (int32_t i0 = 0; i0 < n[0]; ++i0) {
    for (int32_t i1 = 0; i1 < n[1]; ++i1) {
      for (int32_t i2 = 0; i2 < n[2]; ++i2) {
        for (int32_t i3 = 0; i3 < n[3]; ++i3) {
          const int8_t* x = base + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
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

}  // namespace

void ReduceMaxS8(const ReduceParams& p, const int8_t* input, int8_t* output) {
  Reduce<true>(p, input, output);
}

void ReduceMinS8(const ReduceParams& p, const int8_t* input, int8_t* output) {
  Reduce<false>(p, input, output);
}

}  // namespace tr
