// The loops of an elementwise binary op with broadcasting (ADD, SUB, MUL, MAXIMUM, MINIMUM,
// SQUARED_DIFFERENCE). The compiler merges the output's dimensions into at most 4 (outermost
// first), each with both inputs' element strides (0 along a dimension an input broadcasts), so
// the innermost dimension reads each input contiguously or as one repeated value.
#ifndef TINYROBUST_BROADCAST_H_
#define TINYROBUST_BROADCAST_H_

#include <stdint.h>

#include "kernels.h"

namespace tr {

// One row of the innermost dimension: stride 1 or 0 (a repeated value) per input.
template <typename T, typename F>
inline void BinaryRow(int32_t n, int32_t a_stride, int32_t b_stride, const T* a, const T* b,
                      T* output, const F& f) {
  if (a_stride != 0 && b_stride != 0) {
    for (int32_t i = 0; i < n; ++i) output[i] = static_cast<T>(f(a[i], b[i]));
  } else if (a_stride != 0) {
    const T y = *b;
    for (int32_t i = 0; i < n; ++i) output[i] = static_cast<T>(f(a[i], y));
  } else if (b_stride != 0) {
    const T x = *a;
    for (int32_t i = 0; i < n; ++i) output[i] = static_cast<T>(f(x, b[i]));
  } else {
    const T value = static_cast<T>(f(*a, *b));
    for (int32_t i = 0; i < n; ++i) output[i] = value;
  }
}

// output = f(a, b) elementwise over p's merged dimensions; f returns the clamped output value.
template <typename T, typename F>
void BroadcastBinary(const BinaryParams& p, const T* a, const T* b, T* output, const F& f) {
  for (int32_t i0 = 0; i0 < p.out0; ++i0) {
    const T* a0 = a + i0 * p.a_stride0;
    const T* b0 = b + i0 * p.b_stride0;
    for (int32_t i1 = 0; i1 < p.out1; ++i1) {
      const T* a1 = a0 + i1 * p.a_stride1;
      const T* b1 = b0 + i1 * p.b_stride1;
      for (int32_t i2 = 0; i2 < p.out2; ++i2) {
        BinaryRow(p.out3, p.a_stride3, p.b_stride3, a1 + i2 * p.a_stride2, b1 + i2 * p.b_stride2,
                  output, f);
        output += p.out3;
      }
    }
  }
}

// The operands of an op with one constant input (p.constant_input 1 or 2): the constant of the
// input's type in its place, the input in the other.
template <typename T>
struct Operands {
  const T* first;
  const T* second;
};
inline const int8_t* Constant(const BinaryParams& p, const int8_t*) { return p.constant8; }
inline const int16_t* Constant(const BinaryParams& p, const int16_t*) { return p.constant16; }
template <typename T>
inline Operands<T> WithConstant(const BinaryParams& p, const T* input) {
  const T* constant = Constant(p, input);
  return {p.constant_input == 1 ? constant : input, p.constant_input == 2 ? constant : input};
}

// BroadcastBinary with one constant input.
template <typename T, typename F>
void BroadcastConstant(const BinaryParams& p, const T* input, T* output, const F& f) {
  const Operands<T> operands = WithConstant(p, input);
  BroadcastBinary(p, operands.first, operands.second, output, f);
}

}  // namespace tr

#endif  // TINYROBUST_BROADCAST_H_
