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

// The average of `count` values summing to `sum`, rounded half away from zero.
inline int32_t RoundedAverage(int32_t sum, int32_t count) {
  if (count == 0) return sum;
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

// A reduction reads kChannels channels of a tap (x points at the first), then gives each
// channel's result.

// AVERAGE_POOL_2D: the average of the valid taps.
template <typename T>
struct Average {
  static constexpr int32_t kChannels = 1;
  int32_t acc = 0;
  void Add(const T* x) { acc += *x; }
  int32_t Result(int32_t count, int32_t /*channel*/) const { return RoundedAverage(acc, count); }
};

// AVERAGE_POOL_2D, int8, 4 channels at a time (Sums4: windows of at most kMaxLaneTaps taps).
struct Average4 {
  static constexpr int32_t kChannels = 4;
  Sums4 sums;
  void Add(const int8_t* x) { sums.Add(x); }
  int32_t Result(int32_t count, int32_t channel) const {
    return RoundedAverage(sums.Channel(channel), count);
  }
};

// MAX_POOL_2D: the largest valid tap.
template <typename T>
struct Maximum {
  static constexpr int32_t kChannels = 1;
  int32_t best = sizeof(T) == 1 ? -128 : -32768;  // the type's lowest value
  void Add(const T* x) {
    if (*x > best) best = *x;
  }
  int32_t Result(int32_t /*count*/, int32_t /*channel*/) const { return best; }
};

// Reduce (a reduction above) over the valid taps of each window, Reduce::kChannels channels
// at a time.
template <typename Reduce, typename T>
void Pool(const PoolParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, 1);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, 1);
      const int32_t count = (ty.hi - ty.lo) * (tx.hi - tx.lo);
      for (int32_t c = 0; c < p.channels; c += Reduce::kChannels) {
        Reduce reduce;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          const T* x = input + ((ty.origin + ky) * p.in_w + tx.origin) * p.channels + c;
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) reduce.Add(x + kx * p.channels);
        }
        for (int32_t i = 0; i < Reduce::kChannels; ++i) {
          *output++ = static_cast<T>(Clamp(reduce.Result(count, i), p.act_min, p.act_max));
        }
      }
    }
  }
}

}  // namespace

void AveragePoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  if (p.channels % 4 == 0 && p.k_h * p.k_w <= kMaxLaneTaps) {
    Pool<Average4>(p, input, output);
  } else {
    Pool<Average<int8_t>>(p, input, output);
  }
}

void AveragePoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  Pool<Average<int16_t>>(p, input, output);
}

void MaxPoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  Pool<Maximum<int8_t>>(p, input, output);
}

void MaxPoolS16(const PoolParams& p, const int16_t* input, int16_t* output) {
  Pool<Maximum<int16_t>>(p, input, output);
}

}  // namespace tr
