// DEPTHWISE_CONV_2D, int8 and int16x8 (TFLite Micro reference: per-channel requantization).
#include <string.h>

#include "fixed_point.h"
#include "kernels.h"
#include "requantize.h"
#include "rescale.h"
#include "window.h"
#include "x86_hook.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

namespace tr {
namespace {

constexpr int32_t kBlock = 32;         // int16: channels accumulated together (kBlock accumulators)
constexpr int32_t kMaxChannels = 256;  // int8 fast path: one pixel's accumulators on the stack

// Four int32 accumulators, one per channel, kept in registers (named, not an array).
struct Acc4 {
  int32_t a0, a1, a2, a3;
};

#if defined(__ARM_FEATURE_DSP)
// The input offset in both int16 lanes (SXTAB16 adds it to two sign-extended bytes at once).
using Offset = int32_t;
inline Offset PackOffset(int32_t offset) {
  return static_cast<int32_t>((static_cast<uint32_t>(offset) << 16) | (offset & 0xFFFF));
}

// Bytes 1 and 3 of x, sign-extended into int16 lanes, plus the lanes of `lanes`.
inline int32_t AddOddBytes(int32_t lanes, uint32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(lanes), "r"(x));
  return r;
}

inline int32_t OddBytes(uint32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

// acc += w * (x + offset) for the 4 channels at x, w holding their weights as filter_pairs
// does: channels 0 and 2 in w[0], 1 and 3 in w[1], the lanes SXTB16 gives for 4 input bytes.
// kOffset false: + 0, for the windows whose offset term is folded into the bias.
template <bool kOffset>
inline void Mac4Channels(const int8_t* x, const int32_t* w, Offset offset, Acc4& acc) {
  uint32_t xv;
  memcpy(&xv, x, 4);
  const int32_t x02 = kOffset ? __sxtab16(offset, xv) : __sxtb16(xv);
  const int32_t x13 = kOffset ? AddOddBytes(offset, xv) : OddBytes(xv);
  acc.a0 = __smlabb(x02, w[0], acc.a0);
  acc.a1 = __smlabb(x13, w[1], acc.a1);
  acc.a2 = __smlatt(x02, w[0], acc.a2);
  acc.a3 = __smlatt(x13, w[1], acc.a3);
}
#else
using Offset = int32_t;
inline Offset PackOffset(int32_t offset) { return offset; }

inline int32_t LowHalf(int32_t pair) { return static_cast<int16_t>(pair & 0xFFFF); }
inline int32_t HighHalf(int32_t pair) { return pair >> 16; }

template <bool kOffset>
inline void Mac4Channels(const int8_t* x, const int32_t* w, Offset offset, Acc4& acc) {
  const int32_t o = kOffset ? offset : 0;
  acc.a0 += LowHalf(w[0]) * (x[0] + o);
  acc.a1 += LowHalf(w[1]) * (x[1] + o);
  acc.a2 += HighHalf(w[0]) * (x[2] + o);
  acc.a3 += HighHalf(w[1]) * (x[3] + o);
}
#endif

// One output channel's sum over a window: w * (x + input_offset) (int8) or w * x (int16).
template <typename T, typename Acc, bool kInt8>
Acc ChannelWindow(const ConvParams& p, const T* input, const Taps& ty, const Taps& tx, int32_t oc,
                  int32_t ic) {
  Acc acc = 0;
  for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
    for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
      const int32_t x =
          input[((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * p.in_c + ic];
      const int32_t w = p.filter[(ky * p.k_w + kx) * p.out_c + oc];
      acc += kInt8 ? w * (x + p.input_offset) : w * x;
    }
  }
  return acc;
}

// Generic path: any depth multiplier, one output channel at a time.
template <typename T, typename Acc, bool kInt8>
void DepthwiseGeneric(const ConvParams& p, const T* input, T* output) {
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      for (int32_t oc = 0; oc < p.out_c; ++oc) {
        const Acc acc = ChannelWindow<T, Acc, kInt8>(p, input, ty, tx, oc, oc / p.depth_multiplier);
        if constexpr (kInt8) {
          *output++ = Requantize(p, static_cast<int32_t>(acc) + p.bias32[oc], oc);
        } else {
          *output++ = Requantize(p, acc + p.bias64[oc], oc);
        }
      }
    }
  }
}

// Requantize (requantize.h) in the fast form: a negative shift, acc within +-2^30, the whole
// int8 range (SmallAccumulators).
inline int8_t RequantizeFast(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset) {
  return static_cast<int8_t>(SaturateS8(MulShiftRightSmall(acc, multiplier, shift) + offset));
}

// out[c] = Requantize(p, acc[c], c) (requantize.h) for n channels, through rescale.h's cheaper,
// identical arithmetic: a loop of its own, so that its few values stay in registers.
// kFast: every shift is negative, every accumulator within +-2^30 (SmallAccumulators) and the
// activation range the whole int8 range.
template <bool kFast>
void RequantizeChannelsS8(const ConvParams& p, const int32_t* acc, int32_t n, int8_t* out) {
  const int32_t* multiplier = p.multiplier;
  const int32_t* shift = p.shift;
  const int32_t offset = p.output_offset;
  const int32_t lo = p.act_min;
  const int32_t hi = p.act_max;
  for (int32_t c = 0; c < n; ++c) {
    if constexpr (kFast) {
      out[c] = RequantizeFast(acc[c], multiplier[c], shift[c], offset);
    } else {
      const int32_t scaled = MulShift(acc[c], multiplier[c], shift[c]);
      out[c] = static_cast<int8_t>(Clamp(scaled + offset, lo, hi));
    }
  }
}

// True when every shift is negative (a right shift) and no accumulator can leave
// [-2^30, 2^30): |bias| + 255 * 128 per tap at most, as |x + input_offset| <= 255, |w| <= 128.
bool SmallAccumulators(const ConvParams& p) {
  const int64_t limit = (int64_t{1} << 30) - 1 - int64_t{255 * 128} * p.k_h * p.k_w;
  for (int32_t c = 0; c < p.out_c; ++c) {
    const int64_t bias = p.bias32[c];
    if (p.shift[c] >= 0 || bias > limit || -bias > limit) return false;
  }
  return true;
}

// Accumulates 4 channels over rows x cols taps into acc: x points at channel c of the first
// valid tap and steps by column_step along a row, by x_row_step to the next row (past the row's
// columns); w points at the group's filter_pairs of that tap and skips w_row_step words a row.
template <bool kOffset>
inline void Window4(const int8_t* x, const int32_t* w, int32_t rows, int32_t cols,
                    int32_t column_step, int32_t x_row_step, int32_t w_row_step, Offset offset,
                    Acc4& acc) {
  for (int32_t r = rows; r > 0; --r) {
    for (int32_t k = cols; k > 0; --k) {
      Mac4Channels<kOffset>(x, w, offset, acc);
      x += column_step;
      w += 2;
    }
    x += x_row_step;
    w += w_row_step;
  }
}

// Window4's steps, and the filter_pairs words of a group of 4 channels.
struct Steps {
  int32_t column, x_row, w_row, group_words;
};

// One pixel's window (any size, cut by padding or not) for `groups` groups of 4 channels:
// sums = bias + the window's products (kOffset: with the input offset added to each input, for
// windows padding cuts). x and w as for Window4, at the first group. A function of its own, so
// that its loops have the registers to themselves.
template <bool kOffset>
__attribute__((noinline)) void PixelGroups(const int8_t* x, const int32_t* w, int32_t rows,
                                           int32_t cols, const Steps& steps, Offset offset,
                                           const int32_t* bias, int32_t groups, int32_t* sums) {
  const Steps s = steps;
  for (int32_t g = 0; g < groups; ++g, x += 4, w += s.group_words) {
    Acc4 acc{bias[4 * g], bias[4 * g + 1], bias[4 * g + 2], bias[4 * g + 3]};
    Window4<kOffset>(x, w, rows, cols, s.column, s.x_row, s.w_row, offset, acc);
    memcpy(sums + 4 * g, &acc, sizeof(acc));
  }
}

// acc += a full 3x3 window of 4 channels: x points at channel c of tap (0, 0), w at the
// group's filter_pairs.
inline void Window3x3(const int8_t* x, const int32_t* w, int32_t column_step, int32_t row_step,
                      Acc4& acc) {
  for (int32_t r = 0; r < 3; ++r, x += row_step, w += 6) {
    Mac4Channels<false>(x, w, 0, acc);
    Mac4Channels<false>(x + column_step, w + 2, 0, acc);
    Mac4Channels<false>(x + 2 * column_step, w + 4, 0, acc);
  }
}

// One pixel's full 3x3 windows for `groups` groups of 4 channels: sums = bias + the window's
// products. x points at channel 0 of tap (0, 0), w at the first group's filter_pairs. A
// function of its own, so that its loop has the registers to itself.
__attribute__((noinline)) void Pixel3x3(const int8_t* x, const int32_t* w, const int32_t* bias,
                                        int32_t groups, int32_t column_step, int32_t row_step,
                                        int32_t* sums) {
  for (int32_t g = 0; g < groups; ++g, x += 4, w += 18) {
    Acc4 acc{bias[4 * g], bias[4 * g + 1], bias[4 * g + 2], bias[4 * g + 3]};
    Window3x3(x, w, column_step, row_step, acc);
    memcpy(sums + 4 * g, &acc, sizeof(acc));
  }
}

// `pixels` output pixels of one row whose 3x3 windows padding does not cut, in_c % 4 == 0, the
// fast requantization (RequantizeChannelsS8<true>) applied to each group of 4 channels as soon
// as it is summed: no per-pixel window arithmetic and no sums buffer. x points at channel 0 of
// tap (0, 0) of the first pixel.
__attribute__((noinline)) void InteriorRow3x3(const ConvParams& p, const int8_t* x, int32_t pixels,
                                              int8_t* out) {
  const int32_t channels = p.in_c;
  const int32_t column_step = p.dil_w * channels;
  const int32_t row_step = p.dil_h * p.in_w * channels;
  const int32_t pixel_step = p.stride_w * channels;
  const int32_t* bias = p.bias_folded;
  const int32_t* multiplier = p.multiplier;
  const int32_t* shift = p.shift;
  const int32_t* filter_pairs = p.filter_pairs;
  const int32_t offset = p.output_offset;
  for (int32_t n = 0; n < pixels; ++n, x += pixel_step) {
    const int32_t* w = filter_pairs;
    for (int32_t c = 0; c < channels; c += 4, w += 18, out += 4) {
      Acc4 acc{bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
      Window3x3(x + c, w, column_step, row_step, acc);
      out[0] = RequantizeFast(acc.a0, multiplier[c], shift[c], offset);
      out[1] = RequantizeFast(acc.a1, multiplier[c + 1], shift[c + 1], offset);
      out[2] = RequantizeFast(acc.a2, multiplier[c + 2], shift[c + 2], offset);
      out[3] = RequantizeFast(acc.a3, multiplier[c + 3], shift[c + 3], offset);
    }
  }
}

// The output columns whose windows padding does not cut: [begin, end), contiguous.
struct Span {
  int32_t begin, end;
};

Span FullColumns(const ConvParams& p) {
  Span span{0, 0};
  for (int32_t ox = p.out_w - 1; ox >= 0; --ox) {
    const Taps tx = ColumnTaps(p, ox, p.dil_w);
    if (tx.lo == 0 && tx.hi == p.k_w) {
      if (span.end == 0) span.end = ox + 1;
      span.begin = ox;
    }
  }
  return span;
}

// int8, depth multiplier 1: 4 channels at a time (input and output channels are contiguous,
// filter_pairs holds their weights tap after tap), their accumulators held in registers across
// the window; the channels left over (in_c % 4) one at a time.
void DepthwiseS8Multiplier1(const ConvParams& p, const int8_t* input, int8_t* output) {
  const int32_t channels = p.in_c;
  const Offset offset = PackOffset(p.input_offset);
  int32_t sums[kMaxChannels];  // one pixel's accumulators
  const bool fast = SmallAccumulators(p) && p.act_min == -128 && p.act_max == 127;
  const int32_t column_step = p.dil_w * channels;
  const int32_t row_step = p.dil_h * p.in_w * channels;
  const int32_t group_words = 2 * p.k_h * p.k_w;  // filter_pairs words of 4 channels
  const bool rows3x3 = fast && p.k_h == 3 && p.k_w == 3 && channels % 4 == 0;
  const Span interior = rows3x3 ? FullColumns(p) : Span{0, 0};
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      if (ox == interior.begin && interior.end > ox && ty.lo == 0 && ty.hi == 3) {
        const int32_t pixels = interior.end - ox;
        InteriorRow3x3(p, input + (ty.origin * p.in_w + ox * p.stride_w - p.pad_w) * channels,
                       pixels, output);
        output += pixels * channels;
        ox = interior.end - 1;
        continue;
      }
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      const bool full = ty.lo == 0 && ty.hi == p.k_h && tx.lo == 0 && tx.hi == p.k_w;
      const bool full3x3 = full && p.k_h == 3 && p.k_w == 3;
      const int32_t rows = ty.hi - ty.lo;
      const int32_t cols = tx.hi - tx.lo;
      const int8_t* x =
          input + ((ty.origin + ty.lo * p.dil_h) * p.in_w + tx.origin + tx.lo * p.dil_w) * channels;
      const int32_t first_tap = ty.lo * p.k_w + tx.lo;
      const int32_t x_row_step = row_step - cols * column_step;
      const int32_t w_row_step = 2 * (p.k_w - cols);
      const int32_t* w = p.filter_pairs + 2 * first_tap;
      const int32_t* bias = full ? p.bias_folded : p.bias32;
      const int32_t groups = channels / 4;
      const Steps steps{column_step, x_row_step, w_row_step, group_words};
      if (full3x3) {
        Pixel3x3(x, w, bias, groups, column_step, row_step, sums);
      } else if (full) {
        PixelGroups<false>(x, w, rows, cols, steps, offset, bias, groups, sums);
      } else {
        PixelGroups<true>(x, w, rows, cols, steps, offset, bias, groups, sums);
      }
      for (int32_t c = groups * 4; c < channels; ++c) {
        sums[c] = p.bias32[c] + ChannelWindow<int8_t, int32_t, true>(p, input, ty, tx, c, c);
      }
      if (fast) {
        RequantizeChannelsS8<true>(p, sums, channels, output);
      } else {
        RequantizeChannelsS8<false>(p, sums, channels, output);
      }
      output += channels;
    }
  }
}

// int16, depth multiplier 1: blocks of kBlock contiguous channels.
void DepthwiseS16Multiplier1(const ConvParams& p, const int16_t* input, int16_t* output) {
  const int32_t channels = p.in_c;
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      for (int32_t c0 = 0; c0 < channels; c0 += kBlock) {
        const int32_t n = channels - c0 < kBlock ? channels - c0 : kBlock;
        int64_t acc[kBlock];
        for (int32_t c = 0; c < n; ++c) acc[c] = p.bias64[c0 + c];
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
            const int16_t* x =
                input +
                ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * channels + c0;
            const int8_t* w = p.filter + (ky * p.k_w + kx) * channels + c0;
            for (int32_t c = 0; c < n; ++c) acc[c] += static_cast<int32_t>(w[c]) * x[c];
          }
        }
        for (int32_t c = 0; c < n; ++c) output[c0 + c] = Requantize(p, acc[c], c0 + c);
      }
      output += channels;
    }
  }
}

}  // namespace

void DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  TR_TRY_X86(DepthwiseConvS8, p, input, output);
  if (p.filter_pairs != nullptr && p.in_c <= kMaxChannels) {  // depth multiplier 1
    DepthwiseS8Multiplier1(p, input, output);
  } else {
    DepthwiseGeneric<int8_t, int32_t, true>(p, input, output);
  }
}

void DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(DepthwiseConvS16, p, input, output);
  if (p.depth_multiplier == 1) {
    DepthwiseS16Multiplier1(p, input, output);
  } else {
    DepthwiseGeneric<int16_t, int64_t, false>(p, input, output);
  }
}

}  // namespace tr
