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
// Two int16 lanes of a 32-bit register (the operands of SXTB16 and SMLAD).
using Lanes = int16x2_t;

// Bytes 0 and 2 of x, sign-extended to two int16 lanes.
inline Lanes EvenBytes(uint32_t x) { return __sxtb16(x); }

// Bytes 1 and 3 of x, sign-extended to two int16 lanes.
inline Lanes OddBytes(uint32_t x) {
  Lanes r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

// acc + the products of the low lanes and of the high lanes.
inline int32_t Smlad(Lanes a, Lanes b, int32_t acc) { return __smlad(a, b, acc); }
#else
// The same operations, portable: lanes as two int32 values.
struct Lanes {
  int32_t lo, hi;
};

inline Lanes EvenBytes(uint32_t x) {
  return {static_cast<int8_t>(x & 0xFF), static_cast<int8_t>((x >> 16) & 0xFF)};
}

inline Lanes OddBytes(uint32_t x) {
  return {static_cast<int8_t>((x >> 8) & 0xFF), static_cast<int8_t>(x >> 24)};
}

inline int32_t Smlad(Lanes a, Lanes b, int32_t acc) { return acc + a.lo * b.lo + a.hi * b.hi; }
#endif

// Four int8 values as one word (unaligned loads are fine on Cortex-M3 and up).
inline uint32_t Load4(const int8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

// acc + the four products of x[0..3] and w[0..3].
inline int32_t Mac4(const int8_t* x, const int8_t* w, int32_t acc) {
  const uint32_t xv = Load4(x), wv = Load4(w);
  acc = Smlad(EvenBytes(xv), EvenBytes(wv), acc);
  return Smlad(OddBytes(xv), OddBytes(wv), acc);
}

// The 2 x 2 block of products of the four values at x0, x0 + dx and w0, w1, added to
// a00 (x0.w0), a01 (x0.w1), a10 (x1.w0), a11 (x1.w1): each word is unpacked once and used twice
// (bytes 0, 2 and 1, 3 pair alike in inputs and weights).
inline void Mac2x2(const int8_t* x0, int32_t dx, const int8_t* w0, const int8_t* w1, int32_t& a00,
                   int32_t& a01, int32_t& a10, int32_t& a11) {
  const uint32_t wa = Load4(w0), wb = Load4(w1);
  const Lanes wa_even = EvenBytes(wa), wa_odd = OddBytes(wa);
  const Lanes wb_even = EvenBytes(wb), wb_odd = OddBytes(wb);
  const uint32_t xa = Load4(x0);
  const Lanes xa_even = EvenBytes(xa), xa_odd = OddBytes(xa);
  a00 = Smlad(xa_odd, wa_odd, Smlad(xa_even, wa_even, a00));
  a01 = Smlad(xa_odd, wb_odd, Smlad(xa_even, wb_even, a01));
  const uint32_t xb = Load4(x0 + dx);
  const Lanes xb_even = EvenBytes(xb), xb_odd = OddBytes(xb);
  a10 = Smlad(xb_odd, wa_odd, Smlad(xb_even, wa_even, a10));
  a11 = Smlad(xb_odd, wb_odd, Smlad(xb_even, wb_even, a11));
}

// The 2 x 2 block of dot products of two inputs x0, x1 = x0 + dx and two filter rows w0, w1
// over n values, added to acc = {x0.w0, x0.w1, x1.w0, x1.w1}, four values a step.
inline void Dot2x2(const int8_t* x0, int32_t dx, const int8_t* w0, const int8_t* w1, int32_t n,
                   int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  const int8_t* end = w0 + (n & ~3);
  for (; w0 != end; w0 += 4, w1 += 4, x0 += 4) Mac2x2(x0, dx, w0, w1, a00, a01, a10, a11);
  for (int32_t i = 0; i < (n & 3); ++i) {
    a00 += x0[i] * w0[i];
    a01 += x0[i] * w1[i];
    a10 += x0[dx + i] * w0[i];
    a11 += x0[dx + i] * w1[i];
  }
  acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
}

// Dot2x2 for a constant dx (kDx < 4096). On Cortex-M4/M7 the eight-value steps are one assembly
// loop (the same steps as Mac2x2): the four accumulators, three pointers and six temporaries
// take 13 registers, which a build with a frame pointer (-O0) still has, and the end is read from
// the stack, so nothing spills; Dot2x2 does the rest.
// Inlined: a call per channel pair would cost as much as the requantization.
template <int32_t kDx>
[[gnu::always_inline]] inline void Dot2x2Fixed(const int8_t* x0, const int8_t* w0, const int8_t* w1,
                                               int32_t n, int32_t acc[4]) {
#if defined(__ARM_FEATURE_DSP)
  const int32_t steps = n & ~7;
  if (steps > 0) {
    const int8_t* end = w0 + steps;
    uint32_t wa, wb, wa_even, wb_even, t, u;
#define TR_MAC2X2                            \
  "ldr %[wa], [%[w0]], #4\n"                 \
  "ldr %[wb], [%[w1]], #4\n"                 \
  "sxtb16 %[wa_even], %[wa]\n"               \
  "sxtb16 %[wa], %[wa], ror #8\n"            \
  "sxtb16 %[wb_even], %[wb]\n"               \
  "sxtb16 %[wb], %[wb], ror #8\n"            \
  "ldr %[t], [%[x0], %[dx]]\n"               \
  "sxtb16 %[u], %[t]\n"                      \
  "sxtb16 %[t], %[t], ror #8\n"              \
  "smlad %[a10], %[u], %[wa_even], %[a10]\n" \
  "smlad %[a11], %[u], %[wb_even], %[a11]\n" \
  "smlad %[a10], %[t], %[wa], %[a10]\n"      \
  "smlad %[a11], %[t], %[wb], %[a11]\n"      \
  "ldr %[t], [%[x0]], #4\n"                  \
  "sxtb16 %[u], %[t]\n"                      \
  "sxtb16 %[t], %[t], ror #8\n"              \
  "smlad %[a00], %[u], %[wa_even], %[a00]\n" \
  "smlad %[a01], %[u], %[wb_even], %[a01]\n" \
  "smlad %[a00], %[t], %[wa], %[a00]\n"      \
  "smlad %[a01], %[t], %[wb], %[a01]\n"
    __asm__ volatile(
        "1:\n" TR_MAC2X2 TR_MAC2X2
        "ldr %[t], %[end]\n"
        "cmp %[w0], %[t]\n"
        "bne 1b\n"
        : [a00] "+r"(acc[0]), [a01] "+r"(acc[1]), [a10] "+r"(acc[2]), [a11] "+r"(acc[3]),
          [x0] "+r"(x0), [w0] "+r"(w0), [w1] "+r"(w1), [wa] "=&r"(wa), [wb] "=&r"(wb),
          [wa_even] "=&r"(wa_even), [wb_even] "=&r"(wb_even), [t] "=&r"(t), [u] "=&r"(u)
        : [end] "m"(end), [dx] "I"(kDx)
        : "cc", "memory");
#undef TR_MAC2X2
    n -= steps;
  }
#endif
  if (n > 0) Dot2x2(x0, kDx, w0, w1, n, acc);  // the test skips the tails' set-up
}

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
