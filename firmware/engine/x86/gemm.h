// The matrix product behind CONV_2D and FULLY_CONNECTED: out[pixel][channel] = sum over k of
// patch[pixel][k] * filter[channel][k], the filter row-major [channels][k] as both ops store it.
// Patches (one im2col row per output pixel, filled by the op) are multiplied by the filter
// re-laid out as [channel block][k group][lane][group element]: one vector load gives kLanes
// channels x one group of k, one broadcast gives a group of k of one pixel. A tile of up to
// kPixels pixels x up to kMaxBlocks channel vectors stays in registers. Patch padding (k beyond
// the depth, up to a whole group) is zero in the patch and in the packed filter.
//
// Schemes (all exact integer arithmetic):
// - DotU8 (AVX-512 VNNI): patch values x + 128 as uint8 and int8 weights, four products per
//   lane per vpdpbusd; the accumulators start from bias - 128 * sum(filter row).
// - PairsS16: int16 patch values and weights, two products per lane per vpmaddwd (int8 ops
//   without VNNI, and every int16x8 op).
#ifndef TINYROBUST_X86_GEMM_H_
#define TINYROBUST_X86_GEMM_H_

#include <stdint.h>

#include <vector>

#include "fixed_point.h"
#include "pack.h"
#include "simd.h"

#if defined(TR_X86_SIMD)

namespace tr {
namespace x86 {

constexpr int32_t kPixels = 8;  // patch rows filled together
constexpr int32_t kMaxBlocks = TR_X86_SIMD == 512 ? 4 : 2;
constexpr int32_t kRegisters = TR_X86_SIMD == 512 ? 32 : 16;

// Pixels per register tile of kBlocks channel vectors: all kPixels rows when their accumulators,
// kBlocks weight vectors and a broadcast fit the registers, else half of them per pass.
template <int kBlocks>
constexpr int32_t TileRows() {
  return kPixels * kBlocks + kBlocks + 1 <= kRegisters ? kPixels : kPixels / 2;
}

#if defined(__AVX512VNNI__) && TR_X86_SIMD == 512
struct DotU8 {
  using Patch = uint8_t;
  using Weight = int8_t;
  static constexpr int32_t kGroup = 4;
  static constexpr int32_t kWeightOffset = 128;  // what each patch value is shifted by
  static Patch Convert(int8_t x) { return static_cast<uint8_t>(x) ^ 0x80; }
  static Vec Step(Vec acc, Vec x, Vec w) { return _mm512_dpbusd_epi32(acc, x, w); }
};
#endif

struct PairsS16 {
  using Patch = int16_t;
  using Weight = int16_t;
  static constexpr int32_t kGroup = 2;
  static constexpr int32_t kWeightOffset = 0;
  static Patch Convert(int32_t x) { return static_cast<int16_t>(x); }
  static Vec Step(Vec acc, Vec x, Vec w) { return Add(acc, MaddS16(x, w)); }
};

#if defined(__AVX512VNNI__) && TR_X86_SIMD == 512
using SchemeS8 = DotU8;
#else
using SchemeS8 = PairsS16;
#endif

// A filter [channels][depth] in the scheme's layout, with its channel parameters.
template <typename Scheme>
struct PackedFilter {
  int32_t channels, depth;
  int32_t groups;  // groups of Scheme::kGroup along depth (the last one zero-padded)
  std::vector<typename Scheme::Weight> weights;
  ChannelParams params;
  ChannelParams64 params64;  // int16 ops

  // int8 ops: bias_folded (bias + input_offset * sum(row)), bias64 nullptr; int16 ops: the
  // other way round.
  PackedFilter(int32_t channels_in, int32_t depth_in, const int8_t* filter,
               const int32_t* bias_folded, const int64_t* bias64, const int32_t* multiplier,
               const int32_t* shift)
      : channels(channels_in),
        depth(depth_in),
        groups((depth_in + Scheme::kGroup - 1) / Scheme::kGroup),
        weights(static_cast<size_t>(Blocks(channels_in)) * groups * kLanes * Scheme::kGroup),
        params(channels_in, multiplier, shift),
        params64(bias64 != nullptr ? channels_in : 0, bias64, multiplier, shift) {
    constexpr int32_t g = Scheme::kGroup;
    for (int32_t c = 0; c < channels; ++c) {
      const int8_t* row = filter + static_cast<size_t>(c) * depth;
      int32_t sum = 0;
      for (int32_t k = 0; k < depth; ++k) {
        const size_t at =
            ((static_cast<size_t>(c / kLanes) * groups + k / g) * kLanes + c % kLanes) * g + k % g;
        weights[at] = row[k];
        sum += row[k];
      }
      if (bias_folded != nullptr) params.bias[c] = bias_folded[c] - Scheme::kWeightOffset * sum;
    }
  }

  size_t BlockStride() const { return static_cast<size_t>(groups) * kLanes * Scheme::kGroup; }
  int32_t PatchLength() const { return groups * Scheme::kGroup; }
};

// Accumulators of kRows patches (rows `stride` apart) x kBlocks channel vectors over groups
// [g0, g1), starting from `init` (kBlocks vectors) or zero, stored to tile[row][kBlocks lanes].
template <typename Scheme, int kBlocks, int kRows>
inline void Tile(const typename Scheme::Patch* patch, int32_t stride,
                 const typename Scheme::Weight* weights, size_t block_stride, int32_t g0,
                 int32_t g1, const int32_t* init, int32_t* tile) {
  constexpr int32_t g = Scheme::kGroup;
  Vec acc[kRows][kBlocks];
  for (int32_t j = 0; j < kBlocks; ++j) {
    const Vec start = init != nullptr ? Load(init + j * kLanes) : Zero();
    for (int32_t p = 0; p < kRows; ++p) acc[p][j] = start;
  }
  for (int32_t k = g0; k < g1; ++k) {
    Vec w[kBlocks];
    for (int32_t j = 0; j < kBlocks; ++j) w[j] = Load(weights + j * block_stride + k * kLanes * g);
    for (int32_t p = 0; p < kRows; ++p) {
      const Vec x = Broadcast4(patch + p * stride + k * g);
      for (int32_t j = 0; j < kBlocks; ++j) acc[p][j] = Scheme::Step(acc[p][j], x, w[j]);
    }
  }
  for (int32_t p = 0; p < kRows; ++p) {
    for (int32_t j = 0; j < kBlocks; ++j) Store(tile + (p * kBlocks + j) * kLanes, acc[p][j]);
  }
}

// The tiles of the first `rows` of kPixels patches x kBlocks channel vectors.
template <typename Scheme, int kBlocks>
inline void Tiles(int32_t rows, const typename Scheme::Patch* patch, int32_t stride,
                  const typename Scheme::Weight* weights, size_t block_stride, int32_t g0,
                  int32_t g1, const int32_t* init, int32_t* tile) {
  constexpr int32_t r = TileRows<kBlocks>();
  for (int32_t p = 0; p < rows; p += r) {
    Tile<Scheme, kBlocks, r>(patch + p * stride, stride, weights, block_stride, g0, g1, init,
                             tile + p * kBlocks * kLanes);
  }
}

// Tiles with the number of channel vectors chosen at run time (1..kMaxBlocks).
template <typename Scheme>
inline void TilesN(int32_t blocks, int32_t rows, const typename Scheme::Patch* patch,
                   int32_t stride, const typename Scheme::Weight* weights, size_t block_stride,
                   int32_t g0, int32_t g1, const int32_t* init, int32_t* tile) {
  switch (blocks) {
    case 1:
      return Tiles<Scheme, 1>(rows, patch, stride, weights, block_stride, g0, g1, init, tile);
#if TR_X86_SIMD == 512
    case 3:
      return Tiles<Scheme, 3>(rows, patch, stride, weights, block_stride, g0, g1, init, tile);
    case 4:
      return Tiles<Scheme, 4>(rows, patch, stride, weights, block_stride, g0, g1, init, tile);
#endif
    default:
      return Tiles<Scheme, 2>(rows, patch, stride, weights, block_stride, g0, g1, init, tile);
  }
}

// The thread's patch buffer: kPixels rows of `length` values (reused across calls).
template <typename Patch>
inline Patch* PatchRows(int32_t length) {
  thread_local std::vector<Patch> buffer;
  const size_t size = static_cast<size_t>(kPixels) * length;
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

// d[i] = Scheme::Convert(x[i]) for i < n, 16 or 32 values at a time.
inline void ConvertSpan(const int8_t* x, uint8_t* d, int32_t n) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  int32_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm256_xor_si256(v, flip));
  }
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm_xor_si128(v, _mm256_castsi256_si128(flip)));
  }
  for (; i < n; ++i) d[i] = static_cast<uint8_t>(x[i]) ^ 0x80;
}

inline void ConvertSpan(const int8_t* x, int16_t* d, int32_t n) {
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), _mm256_cvtepi8_epi16(v));
  }
  for (; i < n; ++i) d[i] = x[i];
}

inline void ConvertSpan(const int16_t* x, int16_t* d, int32_t n) { memcpy(d, x, n * sizeof(*d)); }

template <typename Patch>
inline void FillSpan(Patch* d, int32_t n, Patch value) {
  for (int32_t i = 0; i < n; ++i) d[i] = value;
}

// Calls fill(pixel, row) for the pixels [first, first + rows) and zeroes each row's padding to a
// whole group.
template <typename Scheme, typename Fill>
inline void FillRows(const PackedFilter<Scheme>& f, int32_t first, int32_t rows, Fill fill,
                     typename Scheme::Patch* patch) {
  const int32_t length = f.PatchLength();
  for (int32_t p = 0; p < rows; ++p) {
    typename Scheme::Patch* row = patch + p * length;
    fill(first + p, row);
    FillSpan<typename Scheme::Patch>(row + f.depth, length - f.depth, 0);
  }
}

// int8 output: requantized per channel (ChannelParams), written to out[pixel][channel].
template <typename Scheme, typename Fill>
void GemmS8(const PackedFilter<Scheme>& f, int32_t pixels, Fill fill, int32_t output_offset,
            int32_t act_min, int32_t act_max, int8_t* out) {
  const int32_t length = f.PatchLength();
  typename Scheme::Patch* patch = PatchRows<typename Scheme::Patch>(length);
  alignas(64) int32_t tile[kPixels * kMaxBlocks * kLanes];
  const int32_t blocks = Blocks(f.channels);
  for (int32_t first = 0; first < pixels; first += kPixels) {
    const int32_t rows = pixels - first < kPixels ? pixels - first : kPixels;
    FillRows(f, first, rows, fill, patch);
    for (int32_t b0 = 0; b0 < blocks; b0 += kMaxBlocks) {
      const int32_t nb = blocks - b0 < kMaxBlocks ? blocks - b0 : kMaxBlocks;
      TilesN<Scheme>(nb, rows, patch, length, f.weights.data() + b0 * f.BlockStride(),
                     f.BlockStride(), 0, f.groups, f.params.bias.data() + b0 * kLanes, tile);
      for (int32_t j = 0; j < nb; ++j) {
        const int32_t c0 = (b0 + j) * kLanes;
        const Requant q = f.params.Load(c0, output_offset, act_min, act_max);
        const int32_t n = f.channels - c0 < kLanes ? f.channels - c0 : kLanes;
        for (int32_t p = 0; p < rows; ++p) {
          const Vec v = RequantizeS8(Load(tile + (p * nb + j) * kLanes), q);
          int8_t* dst = out + static_cast<size_t>(first + p) * f.channels + c0;
          if (n == kLanes) {
            StoreS8(dst, v);
          } else {
            int8_t part[kLanes];
            StoreS8(part, v);
            memcpy(dst, part, n);
          }
        }
      }
    }
  }
}

// Groups per int32 pass of the int16x8 scheme. Each vpmaddwd lane adds two products of an int16
// input (|x| <= 2^15) and an int8 weight (|w| <= 2^7): at most 2^23 per group, so 128 groups add
// at most 2^30 < 2^31 and the int32 lanes cannot overflow before they join the int64 sums.
constexpr int32_t kGroupsS16 = 128;

// int16 output: int64 sums requantized per channel (ChannelParams64), to out[pixel][channel].
template <typename Fill>
void GemmS16(const PackedFilter<PairsS16>& f, int32_t pixels, Fill fill, int32_t act_min,
             int32_t act_max, int16_t* out) {
  const int32_t length = f.PatchLength();
  int16_t* patch = PatchRows<int16_t>(length);
  alignas(64) int32_t tile[kPixels * kMaxBlocks * kLanes];
  alignas(64) int64_t sums[kPixels * kMaxBlocks * kLanes];
  const int32_t blocks = Blocks(f.channels);
  for (int32_t first = 0; first < pixels; first += kPixels) {
    const int32_t rows = pixels - first < kPixels ? pixels - first : kPixels;
    FillRows(f, first, rows, fill, patch);
    for (int32_t b0 = 0; b0 < blocks; b0 += kMaxBlocks) {
      const int32_t nb = blocks - b0 < kMaxBlocks ? blocks - b0 : kMaxBlocks;
      const int32_t lanes = nb * kLanes;
      for (int32_t i = 0; i < kPixels * lanes; ++i) sums[i] = 0;
      for (int32_t g0 = 0; g0 < f.groups; g0 += kGroupsS16) {
        const int32_t g1 = f.groups - g0 < kGroupsS16 ? f.groups : g0 + kGroupsS16;
        TilesN<PairsS16>(nb, rows, patch, length, f.weights.data() + b0 * f.BlockStride(),
                         f.BlockStride(), g0, g1, nullptr, tile);
        for (int32_t i = 0; i < kPixels * lanes; ++i) sums[i] += tile[i];
      }
      const int32_t c0 = b0 * kLanes;
      const int32_t n = f.channels - c0 < lanes ? f.channels - c0 : lanes;
      for (int32_t p = 0; p < rows; ++p) {
        int16_t* dst = out + static_cast<size_t>(first + p) * f.channels + c0;
        f.params64.Requantize(sums + p * lanes, c0, n, act_min, act_max, dst);
      }
    }
  }
}

}  // namespace x86
}  // namespace tr

#endif  // TR_X86_SIMD
#endif  // TINYROBUST_X86_GEMM_H_
