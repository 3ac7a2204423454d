// DEPTHWISE_CONV_2D with depth multiplier 1 (other multipliers: the portable kernel), int8 and
// int16x8: channels are contiguous in NHWC input, filter and output, so each vector holds
// kLanes channels of one output pixel, summed over the taps padding leaves.
#include <vector>

#include "pack.h"
#include "window.h"
#include "x86_kernels.h"

namespace tr {
namespace x86 {

#if defined(TR_X86_SIMD)
namespace {

// Channel vectors accumulated together, for one output pixel.
constexpr int32_t kDepthBlocks = 4;

// The filter [k_h * k_w][channels] with each tap padded to whole vectors, and its channel
// parameters (int8: params, its bias bias32; int16: params64, params' bias zero).
struct PackedDepthwise {
  int32_t padded;
  std::vector<int8_t> filter;
  ChannelParams params;
  ChannelParams64 params64;

  explicit PackedDepthwise(const ConvParams& p)
      : padded(Blocks(p.out_c) * kLanes),
        filter(static_cast<size_t>(p.k_h) * p.k_w * padded),
        params(p.out_c, p.multiplier, p.shift),
        params64(p.bias64 != nullptr ? p.out_c : 0, p.bias64, p.multiplier, p.shift) {
    for (int32_t t = 0; t < p.k_h * p.k_w; ++t) {
      for (int32_t c = 0; c < p.out_c; ++c) filter[t * padded + c] = p.filter[t * p.out_c + c];
    }
    for (int32_t c = 0; c < p.out_c && p.bias32 != nullptr; ++c) params.bias[c] = p.bias32[c];
  }
};

// kLanes values from x, of which only the first n are read (zero beyond).
template <typename T>
inline Vec LoadPart(const T* x, int32_t n) {
  if (n == kLanes) return LoadLanes(x);
  T part[kLanes] = {};
  memcpy(part, x, n * sizeof(T));
  return LoadLanes(part);
}

// Accumulators of channels [c0, c0 + kBlocks * kLanes) of one output pixel: bias + the sum over
// its taps of (x + offset) * w (offset 0 for int16 inputs).
template <int kBlocks, typename T>
inline void PixelSums(const ConvParams& p, const PackedDepthwise& f, const T* input, Taps ty,
                      Taps tx, int32_t c0, Vec* acc) {
  const Vec offset = Set1(p.input_offset);
  const int32_t rest = p.in_c - c0;
  for (int32_t j = 0; j < kBlocks; ++j) acc[j] = Load(&f.params.bias[c0 + j * kLanes]);
  for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
    for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
      const int32_t at = (ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w;
      const T* x = input + static_cast<size_t>(at) * p.in_c + c0;
      const int8_t* w = &f.filter[(ky * p.k_w + kx) * f.padded + c0];
      for (int32_t j = 0; j < kBlocks; ++j) {
        const int32_t n = rest - j * kLanes < kLanes ? rest - j * kLanes : kLanes;
        const Vec xv = Add(LoadPart(x + j * kLanes, n), offset);
        acc[j] = Add(acc[j], Mul(xv, LoadS8(w + j * kLanes)));
      }
    }
  }
}

// Stores the kBlocks accumulators of channels from c0 (those below in_c) as T outputs.
template <int kBlocks>
inline void StorePixel(const ConvParams& p, const PackedDepthwise& f, const Vec* acc, int32_t c0,
                       int8_t* out) {
  for (int32_t j = 0; j < kBlocks; ++j) {
    const int32_t c = c0 + j * kLanes;
    const Vec v = RequantizeS8(acc[j], f.params.Load(c, p.output_offset, p.act_min, p.act_max));
    if (p.in_c - c >= kLanes) {
      StoreS8(out + c, v);
    } else {
      int8_t part[kLanes];
      StoreS8(part, v);
      memcpy(out + c, part, p.in_c - c);
    }
  }
}

template <int kBlocks>
inline void StorePixel(const ConvParams& p, const PackedDepthwise&, const Vec* acc, int32_t c0,
                       int16_t* out) {
  for (int32_t j = 0; j < kBlocks; ++j) {
    alignas(64) int32_t sums[kLanes];
    Store(sums, acc[j]);
    for (int32_t i = 0; i < kLanes && c0 + j * kLanes + i < p.in_c; ++i) {
      const int32_t c = c0 + j * kLanes + i;
      out[c] =
          RequantizeS16(p.bias64[c] + sums[i], p.multiplier[c], p.shift[c], p.act_min, p.act_max);
    }
  }
}

template <int kBlocks, typename T>
inline void Channels(const ConvParams& p, const PackedDepthwise& f, const T* input, Taps ty,
                     Taps tx, int32_t c0, T* out) {
  Vec acc[kBlocks];
  PixelSums<kBlocks>(p, f, input, ty, tx, c0, acc);
  StorePixel<kBlocks>(p, f, acc, c0, out);
}

template <typename T>
void Depthwise(const ConvParams& p, const T* input, T* output) {
  const auto& f = Prepared<PackedDepthwise>(p, [&p] { return PackedDepthwise(p); });
  const int32_t blocks = Blocks(p.in_c);
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox, output += p.in_c) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      int32_t b = 0;
      for (; b + kDepthBlocks <= blocks; b += kDepthBlocks) {
        Channels<kDepthBlocks>(p, f, input, ty, tx, b * kLanes, output);
      }
      for (; b < blocks; ++b) Channels<1>(p, f, input, ty, tx, b * kLanes, output);
    }
  }
}

}  // namespace

bool DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  if (p.depth_multiplier != 1) return false;
  Depthwise(p, input, output);
  return true;
}

// int16 inputs (|x| <= 2^15) times int8 weights (|w| <= 2^7) add at most 2^22 per tap: the
// int32 lanes are exact for windows of up to 511 taps (larger ones: the portable kernel).
bool DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  if (p.depth_multiplier != 1 || p.k_h * p.k_w > 511) return false;
  Depthwise(p, input, output);
  return true;
}

#else
bool DepthwiseConvS8(const ConvParams&, const int8_t*, int8_t*) { return false; }
bool DepthwiseConvS16(const ConvParams&, const int16_t*, int16_t*) { return false; }
#endif

}  // namespace x86
}  // namespace tr
