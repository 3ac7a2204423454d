// CONV_2D, int8 and int16x8 (TFLite Micro reference: per-channel requantization).
#include <string.h>

#include "dot.h"
#include "kernels.h"
#include "requantize.h"
#include "window.h"
#include "x86_hook.h"

namespace tr {
namespace {

// Window bytes (k_h * k_w * in_c) one output pixel gathers on the stack; the pixels of larger
// windows take the per-tap path.
constexpr int32_t kMaxWindow = 1152;

// Sum of w * (x + offset) over n contiguous int8 values (windows cut by padding).
inline int32_t DotOffset(const int8_t* x, const int8_t* w, int32_t n, int32_t offset) {
  int32_t acc = 0;
  for (int32_t i = 0; i < n; ++i) acc += (x[i] + offset) * w[i];
  return acc;
}

// Copies n bytes eight at a time. newlib-nano's memcpy copies byte by byte, and GCC turns a
// plain copy loop into a memcpy call: the empty asm makes the words opaque to it.
inline void CopyBytes(int8_t* dst, const int8_t* src, int32_t n) {
  for (; n >= 8; n -= 8, src += 8, dst += 8) {
    uint32_t a = Load4(src), b = Load4(src + 4);
    __asm__("" : "+r"(a), "+r"(b));
    memcpy(dst, &a, 4);
    memcpy(dst + 4, &b, 4);
  }
  for (; n > 0; --n) {
    int8_t v = *src++;
    __asm__("" : "+r"(v));
    *dst++ = v;
  }
}

// The input window of output pixel (oy, ox) in filter order [k_h][k_w][in_c]. Taps that padding
// cuts hold the input zero point: their products cancel in bias_folded, which then serves every
// window.
void GatherWindow(const ConvParams& p, const int8_t* input, int32_t oy, int32_t ox,
                  int8_t* window) {
  const Taps ty = RowTaps(p, oy, p.dil_h);
  const Taps tx = ColumnTaps(p, ox, p.dil_w);
  const int32_t row = p.k_w * p.in_c;
  if (ty.lo == 0 && ty.hi == p.k_h && tx.lo == 0 && tx.hi == p.k_w && p.dil_w == 1) {
    const int8_t* x = input + (ty.origin * p.in_w + tx.origin) * p.in_c;  // no tap cut: rows
    for (int32_t ky = 0; ky < p.k_h; ++ky, window += row, x += p.dil_h * p.in_w * p.in_c) {
      CopyBytes(window, x, row);
    }
    return;
  }
  const int8_t zero_point = static_cast<int8_t>(-p.input_offset);
  for (int32_t ky = 0; ky < p.k_h; ++ky, window += row) {
    if (ky < ty.lo || ky >= ty.hi) {
      memset(window, zero_point, row);
      continue;
    }
    const int8_t* x = input + ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin) * p.in_c;
    if (tx.lo > 0) memset(window, zero_point, tx.lo * p.in_c);
    if (p.dil_w == 1) {
      CopyBytes(window + tx.lo * p.in_c, x + tx.lo * p.in_c, (tx.hi - tx.lo) * p.in_c);
    } else {
      for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
        CopyBytes(window + kx * p.in_c, x + kx * p.dil_w * p.in_c, p.in_c);
      }
    }
    if (tx.hi < p.k_w) memset(window + tx.hi * p.in_c, zero_point, (p.k_w - tx.hi) * p.in_c);
  }
}

// One output pixel, channel by channel: a window that padding does not cut row by row (input
// offset folded into the bias), another tap by tap with the offset added to each value.
void ConvS8Pixel(const ConvParams& p, const int8_t* input, int32_t oy, int32_t ox, int8_t* output) {
  const Taps ty = RowTaps(p, oy, p.dil_h);
  const Taps tx = ColumnTaps(p, ox, p.dil_w);
  const int32_t row = p.k_w * p.in_c;  // one filter row, contiguous in input when dil_w == 1
  const bool full = ty.lo == 0 && ty.hi == p.k_h && tx.lo == 0 && tx.hi == p.k_w && p.dil_w == 1;
  const int8_t* filter = p.filter;
  for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * row) {
    int32_t acc;
    if (full) {
      acc = p.bias_folded[oc];
      for (int32_t ky = 0; ky < p.k_h; ++ky) {
        const int8_t* x = input + ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin) * p.in_c;
        acc += DotS8(x, filter + ky * row, row);
      }
    } else {
      acc = p.bias32[oc];
      for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
        for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
          const int32_t at = (ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w;
          const int8_t* w = filter + (ky * p.k_w + kx) * p.in_c;
          acc += DotOffset(input + at * p.in_c, w, p.in_c, p.input_offset);
        }
      }
    }
    output[oc] = Requantize(p, acc, oc);
  }
}

// The outputs of two pixels (n = 2), or of one (n = 1) whose window is in both places, whose
// windows are at windows and windows + kMaxWindow (depth values each): two channels at a time,
// bias_folded + Dot2x2Fixed, requantized by RightShiftRequant two outputs at once.
void PixelPair(const ConvParams& p, const int8_t* windows, int32_t n, int32_t depth, int8_t* out) {
  const OutputRange output(p);
  const int32_t channels = p.out_c;
  const int32_t* bias = p.bias_folded;
  const int8_t* w = p.filter;
  int8_t* out1 = out + (n - 1) * channels;  // the second pixel's outputs (n == 2)
  int32_t c = 0;
  for (; c + 1 < channels; c += 2, w += 2 * depth, bias += 2) {
    int32_t acc[4] = {bias[0], bias[1], bias[0], bias[1]};
    Dot2x2Fixed<kMaxWindow>(windows, w, w + depth, depth, acc);
    const RightShiftRequant r0(p, c), r1(p, c + 1);
    StorePair(out + c, output.Pair(r0.Scale(acc[0]), r1.Scale(acc[1])));
    StorePair(out1 + c, output.Pair(r0.Scale(acc[2]), r1.Scale(acc[3])));  // n == 1: the same
  }
  if (c < channels) {  // an odd last channel: computed twice, stored once
    int32_t acc[4] = {bias[0], bias[0], bias[0], bias[0]};
    Dot2x2Fixed<kMaxWindow>(windows, w, w, depth, acc);
    const RightShiftRequant r(p, c);
    out[c] = output(r.Scale(acc[0]));
    out1[c] = output(r.Scale(acc[2]));
  }
}

}  // namespace

// Pixels two at a time, their windows side by side on the stack (a constant distance apart, for
// Dot2x2Fixed): a 1x1 filter without padding copies its in_c values from the input, other
// filters gather the window. Windows beyond kMaxWindow values and the requantizations that
// RightShiftRequant does not fit (not in TFLite's models) go pixel by pixel (ConvS8Pixel).
void ConvS8(const ConvParams& p, const int8_t* input, int8_t* output) {
  TR_TRY_X86(ConvS8, p, input, output);
  const int32_t depth = p.k_h * p.k_w * p.in_c;
  const bool blocked = depth <= kMaxWindow && RightShiftRequant::Fits(p, p.out_c);
  const bool pointwise = p.k_h == 1 && p.k_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  int8_t windows[2 * kMaxWindow];
  const int32_t pixels = p.out_h * p.out_w;
  int32_t oy = 0, ox = 0;
  for (int32_t i = 0; i < pixels; i += 2) {
    const int32_t n = pixels - i < 2 ? 1 : 2;
    for (int32_t j = 0; j < n; ++j) {
      int8_t* window = windows + j * kMaxWindow;
      if (!blocked) {
        ConvS8Pixel(p, input, oy, ox, output + (i + j) * p.out_c);
      } else if (pointwise) {
        CopyBytes(window, input + (oy * p.stride_h * p.in_w + ox * p.stride_w) * p.in_c, depth);
      } else {
        GatherWindow(p, input, oy, ox, window);
      }
      if (++ox == p.out_w) ox = 0, ++oy;
    }
    if (!blocked) continue;
    if (n == 1) CopyBytes(windows + kMaxWindow, windows, depth);  // the last pixel twice
    PixelPair(p, windows, n, depth, output + i * p.out_c);
  }
}

void ConvS16(const ConvParams& p, const int16_t* input, int16_t* output) {
  TR_TRY_X86(ConvS16, p, input, output);
  for (int32_t oy = 0; oy < p.out_h; ++oy) {
    const Taps ty = RowTaps(p, oy, p.dil_h);
    for (int32_t ox = 0; ox < p.out_w; ++ox) {
      const Taps tx = ColumnTaps(p, ox, p.dil_w);
      const int8_t* filter = p.filter;
      for (int32_t oc = 0; oc < p.out_c; ++oc, filter += p.k_h * p.k_w * p.in_c) {
        int64_t acc = 0;
        for (int32_t ky = ty.lo; ky < ty.hi; ++ky) {
          for (int32_t kx = tx.lo; kx < tx.hi; ++kx) {
            const int16_t* x =
                input + ((ty.origin + ky * p.dil_h) * p.in_w + tx.origin + kx * p.dil_w) * p.in_c;
            acc += DotS16(x, filter + (ky * p.k_w + kx) * p.in_c, p.in_c);
          }
        }
        acc += p.bias64[oc];
        *output++ = Requantize(p, acc, oc);
      }
    }
  }
}

}  // namespace tr
