// Shared helpers for windowed kernels (convolutions and pooling): which taps of a kernel window
// fall inside the input, along one axis.
#ifndef TINYROBUST_WINDOW_H_
#define TINYROBUST_WINDOW_H_

#include <stdint.h>

namespace tr {

// One output coordinate's window along one axis: the input coordinate of tap 0 and the taps
// [lo, hi) whose input coordinate origin + tap * dilation lies inside the input (padding cuts
// the others).
struct Taps {
  int32_t origin;
  int32_t lo, hi;
};

inline Taps AxisTaps(int32_t out, int32_t stride, int32_t pad, int32_t k, int32_t dilation,
                     int32_t size) {
  const int32_t origin = out * stride - pad;
  int32_t lo = 0;
  while (lo < k && origin + lo * dilation < 0) ++lo;
  int32_t hi = k;
  while (hi > lo && origin + (hi - 1) * dilation >= size) --hi;
  return Taps{origin, lo, hi};
}

// The window of output row oy (Params: ConvParams or PoolParams).
template <typename Params>
inline Taps RowTaps(const Params& p, int32_t oy, int32_t dilation) {
  return AxisTaps(oy, p.stride_h, p.pad_h, p.k_h, dilation, p.in_h);
}

// The window of output column ox.
template <typename Params>
inline Taps ColumnTaps(const Params& p, int32_t ox, int32_t dilation) {
  return AxisTaps(ox, p.stride_w, p.pad_w, p.k_w, dilation, p.in_w);
}

}  // namespace tr

#endif  // TINYROBUST_WINDOW_H_
