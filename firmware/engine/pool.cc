// AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLite Micro reference kernels; input and
// output share scale and zero point): a reduction over each window's valid taps, then the fused
// activation range.
#include <string.h>

#include "fixed_point.h"
#include "kernels.h"
#include "window.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

namespace tr {
namespace {

constexpr int32_t kMaxLaneTaps = 256;  // int16 lanes hold the sum of up to 256 int8 values

#if defined(__ARM_FEATURE_DSP)
// Sums of 4 int8 channels in the int16 lanes of two words: channels 0 and 2, then 1 and 3.
struct Sums4 {
  int32_t even = 0, odd = 0;
  void Add(const int8_t* x) {
    uint32_t v;
    memcpy(&v, x, 4);
    even = __sxtab16(even, v);
    __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(odd) : "r"(v));
  }
  int32_t Channel(int32_t i) const {
    const int32_t lanes = i % 2 == 0 ? even : odd;
    return i < 2 ? static_cast<int16_t>(lanes & 0xFFFF) : lanes >> 16;
  }
};
#else
struct Sums4 {
  int32_t sum[4] = {0, 0, 0, 0};
  void Add(const int8_t* x) {
    for (int32_t i = 0; i < 4; ++i) sum[i] += x[i];
  }
  int32_t Channel(int32_t i) const { return sum[i]; }
};
#endif

// AVERAGE_POOL_2D: the average of the valid taps, rounded half away from zero.
template <typename T>
struct Average {
  int32_t acc = 0;
  void Add(T x) { acc += x; }
  int32_t Result(int32_t count) const {
    if (count == 0) return acc;
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
  }
};

// MAX_POOL_2D: the largest valid tap.
template <typename T>
struct Maximum {
  int32_t best = sizeof(T) == 1 ? -128 : -32768;  // the type's lowest value
  void Add(T x) {
    if (x > best) best = x;
  }
  int32_t Result(int32_t /*count*/) const { return best; }
};

// Reduce (Average or Maximum) over the valid taps of each window, channel by channel.
template <template <typename> class Reduce, typename T>
void Pool(const PoolParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, 1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, 1);
      const int32_t count = (ty.hi - ty.lo) * (tx.hi - tx.lo);
      for (int32_t c = 0; c < p.channels; ++c) {
        Reduce<T> reduce;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          const T* x = input + ((ty.origin + ky) * p.in_w + tx.origin) * p.channels + c;
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) reduce.Add(x[kx * p.channels]);
        }
        *output++ = static_cast<T>(Clamp(reduce.Result(count), p.act_min, p.act_max));
      }
    }
  }
}

// AVERAGE_POOL_2D int8 with channels % 4 == 0 and at most kMaxLaneTaps taps per window: 4
// channels summed at a time (Sums4), then Average's rounding.
void AveragePoolS8By4(const PoolParams& p, const int8_t* input, int8_t* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, 1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, 1);
      const int32_t count = (ty.hi - ty.lo) * (tx.hi - tx.lo);
      for (int32_t c = 0; c < p.channels; c += 4) {
        Sums4 sums;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          const int8_t* x = input + ((ty.origin + ky) * p.in_w + tx.origin) * p.channels + c;
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) sums.Add(x + kx * p.channels);
        }
        for (int32_t i = 0; i < 4; ++i) {
          const Average<int8_t> average{sums.Channel(i)};
          *output++ = static_cast<int8_t>(Clamp(average.Result(count), p.act_min, p.act_max));
        }
      }
    }
  }
}

}  // namespace

void AveragePoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  if (p.channels % 4 == 0 && p.k_h * p.k_w <= kMaxLaneTaps) {
    AveragePoolS8By4(p, input, output);
  } else {
    Pool<Average>(p, input, output);
  }
}

void AveragePoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  Pool<Average>(p, input, output);
}

void MaxPoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  Pool<Maximum>(p, input, output);
}

void MaxPoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  Pool<Maximum>(p, input, output);
}

}  // namespace tr
