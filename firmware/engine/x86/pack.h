// Per-layer data prepared once, at a layer's first call, and cached for the life of the process:
// filters re-laid out for the vector kernels, per-channel parameters padded to whole vectors.
#ifndef TINYROBUST_X86_PACK_H_
#define TINYROBUST_X86_PACK_H_

#include <stdint.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "fixed_point.h"
#include "simd.h"

#if defined(TR_X86_SIMD)

namespace tr {
namespace x86 {

// Whole vectors of lanes covering n channels.
inline int32_t Blocks(int32_t n) { return (n + kLanes - 1) / kLanes; }

// Per-channel requantization parameters padded to whole vectors (zero in the padding lanes).
struct ChannelParams {
  std::vector<int32_t> multiplier, left, right;
  std::vector<int32_t> bias;  // int8 kernels: the bias of each channel's sum

  ChannelParams(int32_t channels, const int32_t* multiplier_in, const int32_t* shift)
      : multiplier(Blocks(channels) * kLanes),
        left(multiplier.size()),
        right(multiplier.size()),
        bias(multiplier.size()) {
    for (int32_t c = 0; c < channels; ++c) {
      multiplier[c] = multiplier_in[c];
      left[c] = shift[c] > 0 ? shift[c] : 0;
      right[c] = shift[c] > 0 ? 0 : -shift[c];
    }
  }

  Requant Load(int32_t channel, int32_t offset, int32_t lo, int32_t hi) const {
    return LoadRequant(&multiplier[channel], &left[channel], &right[channel], offset, lo, hi);
  }
};

// Per-channel parameters of the int16x8 requantization (fixed_point.h's
// MultiplyByQuantizedMultiplier64 with the bias added first), padded to whole vectors.
struct ChannelParams64 {
  std::vector<int64_t> bias, reduced, total_shift;
  std::vector<int32_t> multiplier, shift;  // for the scalar path

  ChannelParams64(int32_t channels, const int64_t* bias_in, const int32_t* multiplier_in,
                  const int32_t* shift_in)
      : bias(Blocks(channels) * kLanes),
        reduced(bias.size()),
        total_shift(bias.size(), 1),
        multiplier(multiplier_in, multiplier_in + channels),
        shift(shift_in, shift_in + channels) {
    for (int32_t c = 0; c < channels; ++c) {
      const int32_t m = multiplier_in[c];
      bias[c] = bias_in[c];
      reduced[c] = m < 0x7FFF0000 ? ((m + (1 << 15)) >> 16) : 0x7FFF;
      total_shift[c] = 15 - shift_in[c];
    }
  }

  // out[i] = RequantizeS16(sums[i] + bias of channel c0 + i) for i < n.
  void Requantize(const int64_t* sums, int32_t c0, int32_t n, int32_t lo, int32_t hi,
                  int16_t* out) const {
    int32_t i = 0;
#if TR_X86_SIMD == 512
    const __m256i lo8 = _mm256_set1_epi32(lo), hi8 = _mm256_set1_epi32(hi);
    for (; i + 8 <= n; i += 8) {
      const int32_t c = c0 + i;
      const __m512i x =
          _mm512_add_epi64(_mm512_loadu_si512(sums + i), _mm512_loadu_si512(&bias[c]));
      const __m512i s = _mm512_loadu_si512(&total_shift[c]);
      const __m512i round =
          _mm512_sllv_epi64(_mm512_set1_epi64(1), _mm512_sub_epi64(s, _mm512_set1_epi64(1)));
      const __m512i product = _mm512_mullo_epi64(x, _mm512_loadu_si512(&reduced[c]));
      const __m256i r =
          _mm512_cvtepi64_epi32(_mm512_srav_epi64(_mm512_add_epi64(product, round), s));
      const __m256i clamped = _mm256_min_epi32(_mm256_max_epi32(r, lo8), hi8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtepi32_epi16(clamped));
    }
#endif
    for (; i < n; ++i) {
      const int32_t c = c0 + i;
      out[i] = RequantizeS16(sums[i] + bias[c], multiplier[c], shift[c], lo, hi);
    }
  }
};

// The layer data of type Layer for the op whose parameters live at `params` (a struct of the
// generated model, static for the life of the library), made by make() on first use. Threads
// may call kernels concurrently: the map is guarded by a mutex, and an entry never moves.
template <typename Layer, typename Params, typename Make>
const Layer& Prepared(const Params& params, Make make) {
  static std::mutex mutex;
  static std::map<std::tuple<const void*, const void*, const void*>, std::unique_ptr<const Layer>>
      cache;
  const auto key =
      std::make_tuple(static_cast<const void*>(&params), static_cast<const void*>(params.filter),
                      static_cast<const void*>(params.multiplier));
  const std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[key];
  if (!entry) entry = std::make_unique<const Layer>(make());
  return *entry;
}

}  // namespace x86
}  // namespace tr

#endif  // TR_X86_SIMD
#endif  // TINYROBUST_X86_PACK_H_
