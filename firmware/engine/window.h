// Shared helpers for windowed kernels (convolutions and pooling).
#ifndef TINYROBUST_WINDOW_H_
#define TINYROBUST_WINDOW_H_

#include <stdint.h>

namespace tr {

// The taps [*lo, *hi) of a kernel of size k whose input coordinate origin + tap * dilation
// lies inside [0, size).
inline void ValidTaps(int32_t origin, int32_t k, int32_t dilation, int32_t size, int32_t* lo,
                      int32_t* hi) {
  int32_t a = 0;
  while (a < k && origin + a * dilation < 0) ++a;
  int32_t b = k;
  while (b > a && origin + (b - 1) * dilation >= size) --b;
  *lo = a;
  *hi = b;
}

}  // namespace tr

#endif  // TINYROBUST_WINDOW_H_
