// A thin layer over one vector width of int32 lanes (16 with AVX-512, 8 with AVX2) and the
// vector form of fixed_point.h's requantization, bit for bit (rounding and saturation included).
// TR_X86_SIMD is defined when this build has a vector kernel path; without it every x86 kernel
// returns false and the portable kernel runs.
#ifndef TINYROBUST_X86_SIMD_H_
#define TINYROBUST_X86_SIMD_H_

#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
#define TR_X86_SIMD 512
#elif defined(__AVX2__)
#define TR_X86_SIMD 256
#endif

#if defined(TR_X86_SIMD)
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector, which
// -W(maybe-)uninitialized reports wherever they are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#if defined(TR_X86_SIMD)

namespace tr {
namespace x86 {

#if TR_X86_SIMD == 512
using Vec = __m512i;
constexpr int32_t kLanes = 16;

inline Vec Load(const void* p) { return _mm512_loadu_si512(p); }
inline void Store(void* p, Vec v) { _mm512_storeu_si512(p, v); }
inline Vec Set1(int32_t x) { return _mm512_set1_epi32(x); }
inline Vec Zero() { return _mm512_setzero_si512(); }
inline Vec Add(Vec a, Vec b) { return _mm512_add_epi32(a, b); }
inline Vec Sub(Vec a, Vec b) { return _mm512_sub_epi32(a, b); }
inline Vec And(Vec a, Vec b) { return _mm512_and_si512(a, b); }
inline Vec Xor(Vec a, Vec b) { return _mm512_xor_si512(a, b); }
inline Vec Min(Vec a, Vec b) { return _mm512_min_epi32(a, b); }
inline Vec Max(Vec a, Vec b) { return _mm512_max_epi32(a, b); }
inline Vec Mul(Vec a, Vec b) { return _mm512_mullo_epi32(a, b); }
inline Vec ShiftLeft(Vec a, Vec n) { return _mm512_sllv_epi32(a, n); }
inline Vec ShiftRight(Vec a, Vec n) { return _mm512_srav_epi32(a, n); }
// All ones in the lanes where a > b (a == b), zero elsewhere.
inline Vec Greater(Vec a, Vec b) { return _mm512_movm_epi32(_mm512_cmpgt_epi32_mask(a, b)); }
inline Vec Equal(Vec a, Vec b) { return _mm512_movm_epi32(_mm512_cmpeq_epi32_mask(a, b)); }
// Sign-extended int8 / int16 lanes from kLanes consecutive values.
inline Vec LoadS8(const int8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)p));
}
inline Vec LoadS16(const int16_t* p) {
  return _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i*)p));
}
// Lanes (already within the type's range) narrowed and stored: kLanes values.
inline void StoreS8(int8_t* p, Vec v) { _mm_storeu_si128((__m128i*)p, _mm512_cvtepi32_epi8(v)); }
inline void StoreS16(int16_t* p, Vec v) {
  _mm256_storeu_si256((__m256i*)p, _mm512_cvtepi32_epi16(v));
}
// The 64-bit lane products of the even int32 lanes; Odd() moves odd lanes to even positions.
inline Vec MulEven(Vec a, Vec b) { return _mm512_mul_epi32(a, b); }
inline Vec Add64(Vec a, Vec b) { return _mm512_add_epi64(a, b); }
inline Vec Set64(int64_t x) { return _mm512_set1_epi64(x); }
inline Vec Odd(Vec a) { return _mm512_srli_epi64(a, 32); }
// Bits 31..62 of each 64-bit lane: in its low half (ToLow) or its high half (ToHigh).
inline Vec ToLow(Vec a) { return _mm512_srli_epi64(a, 31); }
inline Vec ToHigh(Vec a) { return _mm512_slli_epi64(a, 1); }
inline Vec BlendOdd(Vec even, Vec odd) { return _mm512_mask_blend_epi32(0xAAAA, even, odd); }
// Sum of adjacent int16 products into int32 lanes.
inline Vec MaddS16(Vec a, Vec b) { return _mm512_madd_epi16(a, b); }
// 2 * kLanes int16 lanes: from int8 (sign-extended) or int16 values; their sum.
inline Vec LoadWide(const int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline Vec LoadWide(const int16_t* p) { return _mm512_loadu_si512(p); }
// LoadWide of the first n < 2 * kLanes values only (zero in the other lanes).
inline Vec LoadWide(const int8_t* p, int32_t n) {
  return _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8((1u << n) - 1, p));
}
inline Vec LoadWide(const int16_t* p, int32_t n) {
  return _mm512_maskz_loadu_epi16((1u << n) - 1, p);
}
inline Vec Add16(Vec a, Vec b) { return _mm512_add_epi16(a, b); }
inline Vec Set16(int16_t x) { return _mm512_set1_epi16(x); }
// The int16 lanes of a and b alternating, from the low (InterleaveLo) or high (InterleaveHi)
// half of each 128-bit lane.
inline Vec InterleaveLo(Vec a, Vec b) { return _mm512_unpacklo_epi16(a, b); }
inline Vec InterleaveHi(Vec a, Vec b) { return _mm512_unpackhi_epi16(a, b); }
// The int32 lanes of MaddS16(InterleaveLo(..)) and MaddS16(InterleaveHi(..)) back in the order
// of the int16 lanes they came from: lanes [0, kLanes) in first, [kLanes, 2 * kLanes) in second.
inline void Deinterleave(Vec lo, Vec hi, Vec* first, Vec* second) {
  *first = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), hi);
  *second = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), hi);
}
#else
using Vec = __m256i;
constexpr int32_t kLanes = 8;

inline Vec Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void Store(void* p, Vec v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
inline Vec Set1(int32_t x) { return _mm256_set1_epi32(x); }
inline Vec Zero() { return _mm256_setzero_si256(); }
inline Vec Add(Vec a, Vec b) { return _mm256_add_epi32(a, b); }
inline Vec Sub(Vec a, Vec b) { return _mm256_sub_epi32(a, b); }
inline Vec And(Vec a, Vec b) { return _mm256_and_si256(a, b); }
inline Vec Xor(Vec a, Vec b) { return _mm256_xor_si256(a, b); }
inline Vec Min(Vec a, Vec b) { return _mm256_min_epi32(a, b); }
inline Vec Max(Vec a, Vec b) { return _mm256_max_epi32(a, b); }
inline Vec Mul(Vec a, Vec b) { return _mm256_mullo_epi32(a, b); }
inline Vec ShiftLeft(Vec a, Vec n) { return _mm256_sllv_epi32(a, n); }
inline Vec ShiftRight(Vec a, Vec n) { return _mm256_srav_epi32(a, n); }
inline Vec Greater(Vec a, Vec b) { return _mm256_cmpgt_epi32(a, b); }
inline Vec Equal(Vec a, Vec b) { return _mm256_cmpeq_epi32(a, b); }
inline Vec LoadS8(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
inline Vec LoadS16(const int16_t* p) {
  return _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m128i Narrow16(Vec v) {
  return _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}
inline void StoreS8(int8_t* p, Vec v) {
  const __m128i v16 = Narrow16(v);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(v16, v16));
}
inline void StoreS16(int16_t* p, Vec v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), Narrow16(v));
}
inline Vec MulEven(Vec a, Vec b) { return _mm256_mul_epi32(a, b); }
inline Vec Add64(Vec a, Vec b) { return _mm256_add_epi64(a, b); }
inline Vec Set64(int64_t x) { return _mm256_set1_epi64x(x); }
inline Vec Odd(Vec a) { return _mm256_srli_epi64(a, 32); }
inline Vec ToLow(Vec a) { return _mm256_srli_epi64(a, 31); }
inline Vec ToHigh(Vec a) { return _mm256_slli_epi64(a, 1); }
inline Vec BlendOdd(Vec even, Vec odd) { return _mm256_blend_epi32(even, odd, 0xAA); }
inline Vec MaddS16(Vec a, Vec b) { return _mm256_madd_epi16(a, b); }
inline Vec LoadWide(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline Vec LoadWide(const int16_t* p) { return Load(p); }
template <typename T>
inline Vec LoadWide(const T* p, int32_t n) {
  T part[2 * kLanes] = {};
  memcpy(part, p, n * sizeof(T));
  return LoadWide(part);
}
inline Vec Add16(Vec a, Vec b) { return _mm256_add_epi16(a, b); }
inline Vec Set16(int16_t x) { return _mm256_set1_epi16(x); }
inline Vec InterleaveLo(Vec a, Vec b) { return _mm256_unpacklo_epi16(a, b); }
inline Vec InterleaveHi(Vec a, Vec b) { return _mm256_unpackhi_epi16(a, b); }
inline void Deinterleave(Vec lo, Vec hi, Vec* first, Vec* second) {
  *first = _mm256_permute2x128_si256(lo, hi, 0x20);
  *second = _mm256_permute2x128_si256(lo, hi, 0x31);
}
#endif

// Overloads by element type, for kernels templated on it.
inline Vec LoadLanes(const int8_t* p) { return LoadS8(p); }
inline Vec LoadLanes(const int16_t* p) { return LoadS16(p); }
inline void StoreLanes(int8_t* p, Vec v) { StoreS8(p, v); }
inline void StoreLanes(int16_t* p, Vec v) { StoreS16(p, v); }

// Four bytes at p, repeated in every int32 lane.
inline Vec Broadcast4(const void* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return Set1(v);
}

// SaturatingRoundingDoublingHighMul per lane. Without the saturating case it is
// floor((a * b + 2^30) / 2^31), i.e. bits 31..62 of the 64-bit a * b + 2^30, which fit 32 bits.
inline Vec RoundingHighMul(Vec a, Vec b) {
  const Vec nudge = Set64(int64_t{1} << 30);
  const Vec even = ToLow(Add64(MulEven(a, b), nudge));
  const Vec odd = ToHigh(Add64(MulEven(Odd(a), Odd(b)), nudge));
  const Vec result = BlendOdd(even, odd);
  const Vec int_min = Set1(INT32_MIN);
  const Vec both_min = And(Equal(a, int_min), Equal(b, int_min));
  return Xor(result, both_min);  // INT32_MIN * INT32_MIN: INT32_MIN becomes INT32_MAX
}

// RoundingDivideByPOT per lane (exponent in [0, 31]).
inline Vec RoundingShiftRight(Vec x, Vec exponent) {
  const Vec mask = Sub(ShiftLeft(Set1(1), exponent), Set1(1));
  const Vec remainder = And(x, mask);
  const Vec threshold = Sub(ShiftRight(mask, Set1(1)), Greater(Zero(), x));  // + 1 when x < 0
  return Sub(ShiftRight(x, exponent), Greater(remainder, threshold));
}

// MultiplyByQuantizedMultiplier per lane, with the shift split into left = max(shift, 0) and
// right = max(-shift, 0).
inline Vec MultiplyByQuantizedMultiplier(Vec x, Vec multiplier, Vec left, Vec right) {
  return RoundingShiftRight(RoundingHighMul(ShiftLeft(x, left), multiplier), right);
}

// Per-channel int8 requantization parameters of kLanes channels, ready for RequantizeS8.
struct Requant {
  Vec multiplier, left, right, offset, lo, hi;
};

inline Requant LoadRequant(const int32_t* multiplier, const int32_t* left, const int32_t* right,
                           int32_t offset, int32_t lo, int32_t hi) {
  return Requant{Load(multiplier), Load(left), Load(right), Set1(offset), Set1(lo), Set1(hi)};
}

// fixed_point.h's RequantizeS8 per lane (int32 result within [lo, hi]).
inline Vec RequantizeS8(Vec acc, const Requant& q) {
  const Vec scaled = MultiplyByQuantizedMultiplier(acc, q.multiplier, q.left, q.right);
  return Min(Max(Add(scaled, q.offset), q.lo), q.hi);
}

}  // namespace x86
}  // namespace tr

#endif  // TR_X86_SIMD
#endif  // TINYROBUST_X86_SIMD_H_
