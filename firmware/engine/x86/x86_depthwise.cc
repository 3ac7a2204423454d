// DEPTHWISE_CONV_2D with depth multiplier 1 (other multipliers: the portable kernel), int8 and
// int16x8. Channels are contiguous in NHWC input, filter and output, so a vector holds 2 * kLanes
// channels of one tap as int16 (int8 inputs: x + input_offset, within [-255, 255]). Taps go in
// pairs: the two taps' values interleaved, times their interleaved weights (packed once), give
// through vpmaddwd each channel's sum over the pair as int32; Deinterleave restores the channel
// order at the end. Taps cut by padding count as zero.
#include <vector>

#include "pack.h"
#include "window.h"
#include "x86_kernels.h"

namespace tr {
namespace x86 {

#if defined(TR_X86_SIMD)
namespace {

constexpr int32_t kChannels = 2 * kLanes;  // int16 lanes per vector

// Weights of tap pairs (t, t + 1), [pair][channel block][InterleaveLo, InterleaveHi][kChannels]
// (a missing last tap has zero weights), and the channel parameters (int8: params with bias32;
// int16: params64).
struct PackedDepthwise {
  int32_t pairs, blocks;
  std::vector<int16_t> filter;
  ChannelParams params;
  ChannelParams64 params64;

  explicit PackedDepthwise(const ConvParams& p)
      : pairs((p.k_h * p.k_w + 1) / 2),
        blocks((p.out_c + kChannels - 1) / kChannels),
        filter(static_cast<size_t>(pairs) * blocks * 2 * kChannels),
        params(p.out_c, p.multiplier, p.shift),
        params64(p.bias64 != nullptr ? p.out_c : 0, p.bias64, p.multiplier, p.shift) {
    const int32_t taps = p.k_h * p.k_w;
    for (int32_t q = 0; q < pairs; ++q) {
      for (int32_t b = 0; b < blocks; ++b) {
        int16_t w[2][kChannels] = {};
        for (int32_t t = 0; t < 2 && 2 * q + t < taps; ++t) {
          for (int32_t c = b * kChannels; c < (b + 1) * kChannels && c < p.out_c; ++c) {
            w[t][c - b * kChannels] = p.filter[(2 * q + t) * p.out_c + c];
          }
        }
        int16_t* out = &filter[(static_cast<size_t>(q) * blocks + b) * 2 * kChannels];
        Store(out, InterleaveLo(Load(w[0]), Load(w[1])));
        Store(out + kChannels, InterleaveHi(Load(w[0]), Load(w[1])));
      }
    }
    for (int32_t c = 0; c < p.out_c && p.bias32 != nullptr; ++c) params.bias[c] = p.bias32[c];
  }
};

// kChannels values from x as int16 (only the first n read), plus offset; zero when x is null.
template <typename T>
inline Vec TapValues(const T* x, int32_t n, Vec offset) {
  if (x == nullptr) return Zero();
  return Add16(n == kChannels ? LoadWide(x) : LoadWide(x, n), offset);
}

// Requantizes kLanes accumulators of channels from c (those below channels) to out[c...].
inline void StoreChannels(const ConvParams& p, const PackedDepthwise& f, Vec acc, int32_t c,
                          int8_t* out) {
  const Vec v = RequantizeS8(Add(acc, Load(&f.params.bias[c])),
                             f.params.Load(c, p.output_offset, p.act_min, p.act_max));
  if (p.out_c - c >= kLanes) {
    StoreS8(out + c, v);
  } else {
    int8_t part[kLanes];
    StoreS8(part, v);
    memcpy(out + c, part, p.out_c - c);
  }
}

inline void StoreChannels(const ConvParams& p, const PackedDepthwise& f, Vec acc, int32_t c,
                          int16_t* out) {
  alignas(64) int32_t sums[kLanes];
  Store(sums, acc);
  int64_t wide[kLanes];
  for (int32_t i = 0; i < kLanes; ++i) wide[i] = sums[i];
  const int32_t n = p.out_c - c < kLanes ? p.out_c - c : kLanes;
  f.params64.Requantize(wide, c, n, p.act_min, p.act_max, out + c);
}

// One output pixel, whose taps start at tap[t] (null: cut by padding; 2 * pairs entries).
template <typename T>
void Pixel(const ConvParams& p, const PackedDepthwise& f, const T* const* tap, T* out) {
  const int32_t input_offset = sizeof(T) == 1 ? p.input_offset : 0;  // int16: zero point 0
  const Vec offset = Set16(static_cast<int16_t>(input_offset));
  for (int32_t b = 0; b < f.blocks; ++b) {
    const int32_t c0 = b * kChannels;
    const int32_t n = p.out_c - c0 < kChannels ? p.out_c - c0 : kChannels;
    Vec lo = Zero(), hi = Zero();
    for (int32_t q = 0; q < f.pairs; ++q) {
      const T* xa = tap[2 * q];
      const T* xb = tap[2 * q + 1];
      const Vec a = TapValues(xa != nullptr ? xa + c0 : nullptr, n, offset);
      const Vec v = TapValues(xb != nullptr ? xb + c0 : nullptr, n, offset);
      const int16_t* w = &f.filter[(static_cast<size_t>(q) * f.blocks + b) * 2 * kChannels];
      lo = Add(lo, MaddS16(InterleaveLo(a, v), Load(w)));
      hi = Add(hi, MaddS16(InterleaveHi(a, v), Load(w + kChannels)));
    }
    Vec first, second;
    Deinterleave(lo, hi, &first, &second);
    StoreChannels(p, f, first, c0, out);
    if (c0 + kLanes < p.out_c) StoreChannels(p, f, second, c0 + kLanes, out);
  }
}

template <typename T>
void Depthwise(const ConvParams& p, const T* input, T* output) {
  const auto& f = Prepared<PackedDepthwise>(p, [&p] { return PackedDepthwise(p); });
  std::vector<const T*> tap(2 * f.pairs, nullptr);
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox, output += p.out_c) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      for (int32_t ky = 0; ky < p.k_h; ++ky) {
        for (int32_t kx = 0; kx < p.k_w; ++kx) {
          const bool inside = ky >= ty.lo && ky < ty.hi && kx >= tx.lo && kx < tx.hi;
          const int32_t at = (ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w;
          tap[ky * p.k_w + kx] = inside ? input + static_cast<size_t>(at) * p.in_c : nullptr;
        }
      }
      Pixel(p, f, tap.data(), output);
    }
  }
}

}  // namespace

bool DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  if (p.depth_multiplier != 1) return false;
  Depthwise(p, input, output);
  return true;
}

// int16 inputs (|x| <= 2^15) times int8 weights (|w| <= 2^7): each vpmaddwd lane adds at most
// 2^23 per tap pair, so the int32 lanes are exact for up to 255 pairs (510 taps; larger
// windows: the portable kernel).
bool DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  if (p.depth_multiplier != 1 || p.k_h * p.k_w > 510) return false;
  Depthwise(p, input, output);
  return true;
}

#else
bool DepthwiseConvS8(const ConvParams&, const int8_t*, int8_t*) { return false; }
bool DepthwiseConvS16(const ConvParams&, const int16_t*, int16_t*) { return false; }
#endif

}  // namespace x86
}  // namespace tr
