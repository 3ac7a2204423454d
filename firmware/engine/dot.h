// Dot products of int8 vectors: the inner loop of convolutions and fully connected layers.
// On Cortex-M4/M7 (DSP extension) four products take two SMLAD instructions; integer sums are
// exact in any order, so the result is the same on every target.
#ifndef TINYROBUST_DOT_H_
#define TINYROBUST_DOT_H_

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

namespace tr {

#if defined(__ARM_FEATURE_DSP)
// Bytes 1 and 3 of x, sign-extended to two int16 lanes.
inline int16x2_t SignExtendOdd(uint32_t x) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

// acc + the four products of x[0..3] and w[0..3].
inline int32_t Mac4(const int8_t* x, const int8_t* w, int32_t acc) {
  uint32_t xv, wv;
  memcpy(&xv, x, 4);
  memcpy(&wv, w, 4);
  acc = __smlad(__sxtb16(xv), __sxtb16(wv), acc);
  return __smlad(SignExtendOdd(xv), SignExtendOdd(wv), acc);
}
#else
inline int32_t Mac4(const int8_t* x, const int8_t* w, int32_t acc) {
  return acc + x[0] * w[0] + x[1] * w[1] + x[2] * w[2] + x[3] * w[3];
}
#endif

// Sum of x[i] * w[i] for i < n.
inline int32_t DotS8(const int8_t* x, const int8_t* w, int32_t n) {
  int32_t acc = 0;
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) acc = Mac4(x + i + 4, w + i + 4, Mac4(x + i, w + i, acc));
  for (; i + 4 <= n; i += 4) acc = Mac4(x + i, w + i, acc);
  for (; i < n; ++i) acc += x[i] * w[i];
  return acc;
}

// Sum of x[i] * w[i] for int16 x (int16x8 kernels), accumulated in 64 bits.
inline int64_t DotS16(const int16_t* x, const int8_t* w, int32_t n) {
  int64_t acc = 0;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    acc += static_cast<int32_t>(x[i]) * w[i] + static_cast<int32_t>(x[i + 1]) * w[i + 1] +
           static_cast<int32_t>(x[i + 2]) * w[i + 2] + static_cast<int32_t>(x[i + 3]) * w[i + 3];
  }
  for (; i < n; ++i) acc += static_cast<int32_t>(x[i]) * w[i];
  return acc;
}

}  // namespace tr

#endif  // TINYROBUST_DOT_H_
