// Input squeezers: bit-depth reduction and median smoothing on the integer input lattice
// (defense.h), the same bytes as host/defenses/squeeze.py.
#include "defense.h"

#include <stdint.h>

#if TR_DEFENSE_ENABLED
#include <type_traits>

#include "engine.h"
#endif

namespace tr {
namespace {

constexpr int32_t kMaxBits = 15;  // an int16 lattice holds 2^15 levels (squeeze.MAX_BITS)
constexpr int32_t kMinMedian = 2;
constexpr int32_t kMaxMedian = 5;

// round_half_up(numerator / denominator) for non-negative values. With span <= 65535 (an int16
// lattice) and L <= 2^15 - 1, both numerators below are at most 2 * 65535 * 32767 + 65535 =
// 4294770825 < 2^32: uint32 arithmetic never overflows.
inline uint32_t HalfUpDiv(uint32_t numerator, uint32_t denominator) {
  return (2 * numerator + denominator) / (2 * denominator);
}

// One value reduced to `levels` + 1 levels over [lo, hi].
inline int32_t BitsOf(int32_t q, uint32_t levels, int32_t lo, int32_t hi) {
  const uint32_t span = static_cast<uint32_t>(hi - lo);
  int32_t t = q - lo;
  t = t < 0 ? 0 : (t > hi - lo ? hi - lo : t);
  uint32_t level = HalfUpDiv(static_cast<uint32_t>(t) * levels, span);
  return lo + static_cast<int32_t>(HalfUpDiv(level * span, levels));
}

template <typename T>
void Bits(const T* in, T* out, uint32_t count, uint32_t levels, int32_t lo, int32_t hi) {
  for (uint32_t i = 0; i < count; i++) {
    out[i] = static_cast<T>(BitsOf(in[i], levels, lo, hi));
  }
}

// The index an image row or column `i` (-size < i < n + size) reads with edges mirrored and the
// edge repeated (d c b a | a b c d | d c b a): numpy's "symmetric" padding.
inline int32_t Mirror(int32_t i, int32_t n) {
  int32_t period = 2 * n;
  int32_t m = i % period;
  m = m < 0 ? m + period : m;
  return m < n ? m : period - 1 - m;
}

inline int32_t Min(int32_t a, int32_t b) { return a < b ? a : b; }
inline int32_t Max(int32_t a, int32_t b) { return a < b ? b : a; }

// The third smallest of four values (the upper median of a 2 x 2 window): the second largest,
// the larger of the smaller maximum of the two pairs and the larger minimum.
inline int32_t ThirdOfFour(int32_t a, int32_t b, int32_t c, int32_t d) {
  return Max(Min(Max(a, b), Max(c, d)), Max(Min(a, b), Min(c, d)));
}

inline int32_t MedianOfThree(int32_t a, int32_t b, int32_t c) {
  return Max(Min(a, b), Min(Max(a, b), c));
}

// The fifth smallest of a 3 x 3 window (channel c of the pixels at taps, row-major): the median
// of the largest column minimum, the median of the column medians and the smallest column
// maximum.
template <typename T>
int32_t FifthOfNine(const T* const* taps, int32_t c) {
  int32_t lows = INT32_MIN;
  int32_t highs = INT32_MAX;
  int32_t mids[3];
  for (int32_t s = 0; s < 3; s++) {
    int32_t a = taps[s][c];
    int32_t b = taps[3 + s][c];
    int32_t d = taps[6 + s][c];
    lows = Max(lows, Min(Min(a, b), d));
    highs = Min(highs, Max(Max(a, b), d));
    mids[s] = MedianOfThree(a, b, d);
  }
  return MedianOfThree(lows, MedianOfThree(mids[0], mids[1], mids[2]), highs);
}

// The median of each channel's K x K window: for each pixel, the addresses of its window's K * K
// pixels, then per channel the rank + 1 smallest values kept sorted (insertion, the larger
// dropped). K is a constant, so the loops over the window unroll.
template <typename T, int32_t K>
void Median(const T* in, T* out, int32_t height, int32_t width, int32_t channels) {
  constexpr int32_t kBefore = K / 2;
  constexpr int32_t kRank = K * K / 2;  // the upper median for an even window count
  int32_t rows[K];
  const T* taps[K * K];
  int32_t window[kRank + 1];
  for (int32_t y = 0; y < height; y++) {
    for (int32_t d = 0; d < K; d++) {
      rows[d] = Mirror(y - kBefore + d, height) * width;
    }
    for (int32_t x = 0; x < width; x++) {
      for (int32_t s = 0; s < K; s++) {
        int32_t col = Mirror(x - kBefore + s, width);
        for (int32_t r = 0; r < K; r++) {
          taps[r * K + s] = in + (rows[r] + col) * channels;
        }
      }
      for (int32_t c = 0; c < channels; c++) {
        if constexpr (K == 2) {
          *out++ = static_cast<T>(ThirdOfFour(taps[0][c], taps[1][c], taps[2][c], taps[3][c]));
          continue;
        }
        if constexpr (K == 3) {
          *out++ = static_cast<T>(FifthOfNine(taps, c));
          continue;
        }
        int32_t kept = 0;
        for (int32_t i = 0; i < K * K; i++) {
          int32_t v = taps[i][c];
          if (kept == kRank + 1 && v >= window[kRank]) {
            continue;
          }
          int32_t j = kept == kRank + 1 ? kRank : kept++;
          while (j > 0 && window[j - 1] > v) {
            window[j] = window[j - 1];
            j--;
          }
          window[j] = v;
        }
        *out++ = static_cast<T>(window[kRank]);
      }
    }
  }
}

template <typename T>
void MedianOfSize(const T* in, T* out, int32_t height, int32_t width, int32_t channels,
                  int32_t size) {
  if (size == 2) {
    Median<T, 2>(in, out, height, width, channels);
  } else if (size == 3) {
    Median<T, 3>(in, out, height, width, channels);
  } else if (size == 4) {
    Median<T, 4>(in, out, height, width, channels);
  } else {
    Median<T, 5>(in, out, height, width, channels);
  }
}

}  // namespace
}  // namespace tr

extern "C" int tr_squeeze_bits(int32_t type, const void* in, void* out, uint32_t count,
                               int32_t bits, int32_t lo, int32_t hi) {
  if (bits < 1 || bits > tr::kMaxBits || hi <= lo || hi - lo > 65535) {
    return -1;
  }
  const uint32_t levels = (1u << bits) - 1;
  if (type == TR_DEFENSE_INT8) {
    tr::Bits(static_cast<const int8_t*>(in), static_cast<int8_t*>(out), count, levels, lo, hi);
  } else if (type == TR_DEFENSE_INT16) {
    tr::Bits(static_cast<const int16_t*>(in), static_cast<int16_t*>(out), count, levels, lo, hi);
  } else {
    return -1;
  }
  return 0;
}

extern "C" int tr_squeeze_median(int32_t type, const void* in, void* out, int32_t height,
                                 int32_t width, int32_t channels, int32_t size) {
  if (size < tr::kMinMedian || size > tr::kMaxMedian || height < 1 || width < 1 || channels < 1) {
    return -1;
  }
  if (type == TR_DEFENSE_INT8) {
    tr::MedianOfSize(static_cast<const int8_t*>(in), static_cast<int8_t*>(out), height, width,
                     channels, size);
  } else if (type == TR_DEFENSE_INT16) {
    tr::MedianOfSize(static_cast<const int16_t*>(in), static_cast<int16_t*>(out), height, width,
                     channels, size);
  } else {
    return -1;
  }
  return 0;
}

#if TR_DEFENSE_ENABLED

#if !defined(TR_DEFENSE_LO) || !defined(TR_DEFENSE_HI) || !defined(TR_DEFENSE_TYPE) || \
    !defined(TR_DEFENSE_BYTES)
#error "a defended build needs TR_DEFENSE_LO, _HI, _TYPE and _BYTES (host/board/firmware.py)"
#endif
#if TR_DEFENSE_TYPE != TR_DEFENSE_INT8 && TR_DEFENSE_TYPE != TR_DEFENSE_INT16
#error "the firmware's defenses take int8 or int16 inputs only (TR_DEFENSE_TYPE 1 or 2)"
#endif
#if defined(TR_DEFENSE_BITS) && (TR_DEFENSE_BITS < 1 || TR_DEFENSE_BITS > 15)
#error "TR_DEFENSE_BITS must be 1..15"
#endif
#if defined(TR_DEFENSE_MEDIAN) && (TR_DEFENSE_MEDIAN < 2 || TR_DEFENSE_MEDIAN > 5)
#error "TR_DEFENSE_MEDIAN must be 2..5"
#endif
static_assert(TR_DEFENSE_HI > TR_DEFENSE_LO, "an empty input lattice");

namespace tr {
namespace {

#ifdef TR_DEFENSE_BITS
constexpr int32_t kBits = TR_DEFENSE_BITS;
#else
constexpr int32_t kBits = 0;
#endif
#ifdef TR_DEFENSE_MEDIAN
constexpr int32_t kMedian = TR_DEFENSE_MEDIAN;
#else
constexpr int32_t kMedian = 2;  // unused
#endif
using Element = std::conditional<TR_DEFENSE_TYPE == TR_DEFENSE_INT8, int8_t, int16_t>::type;
constexpr uint32_t kCount = TR_DEFENSE_BYTES / sizeof(Element);

alignas(8) Element defended[kCount];

}  // namespace

// Whatever the order asked for, the median runs first and the bits after it, in place: the
// same bytes, since the bits map every value by a non-decreasing function, and the k-th
// smallest value of a window of mapped values is the mapped k-th smallest value. One buffer,
// and the bits run once per pixel.
const uint8_t* DefendInput(const uint8_t* input) {
  const tr_tensor_info& t = tr_model.input;
  if (t.type != TR_DEFENSE_TYPE || t.bytes != TR_DEFENSE_BYTES) {
    return nullptr;
  }
  const Element* in = reinterpret_cast<const Element*>(input);
#ifdef TR_DEFENSE_MEDIAN
  if (t.rank != 4) {
    return nullptr;
  }
  Median<Element, kMedian>(in, defended, t.dims[1], t.dims[2], t.dims[3]);
  in = defended;
#endif
  constexpr uint32_t kLevels = (1u << kBits) - 1;
  if constexpr (kBits > 0 && sizeof(Element) == 1) {
    // int8: a table of the 256 values, then one look-up per value.
    int8_t table[256];
    for (int32_t v = -128; v < 128; v++) {
      table[v + 128] = static_cast<int8_t>(BitsOf(v, kLevels, TR_DEFENSE_LO, TR_DEFENSE_HI));
    }
    for (uint32_t i = 0; i < kCount; i++) {
      defended[i] = table[in[i] + 128];
    }
  } else if constexpr (kBits > 0) {
    Bits(in, defended, kCount, kLevels, TR_DEFENSE_LO, TR_DEFENSE_HI);
  }
  return reinterpret_cast<const uint8_t*>(defended);
}

}  // namespace tr

#endif  // TR_DEFENSE_ENABLED
