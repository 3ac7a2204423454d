// AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLite Micro reference kernels; input and
// output share scale and zero point): a reduction over each window's valid taps, then the fused
// activation range.
#include "fixed_point.h"
#include "kernels.h"
#include "window.h"

namespace tr {
namespace {

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

}  // namespace

void AveragePoolS8(const PoolParams& p, const int8_t* input, int8_t* output) {
  Pool<Average>(p, input, output);
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
