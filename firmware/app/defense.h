// Input squeezers run by the firmware before the model: bit-depth reduction and median smoothing
// on the model's integer input lattice [lo, hi], byte for byte as host/defenses/squeeze.py.
//
// The squeezers themselves are plain functions (built for the host too, for the tests). A
// firmware built with a defense (`make flash DEFENSE=bits5+median2`, host/board/firmware.py)
// gets these defines and runs them on every input:
//   TR_DEFENSE_BITS=<b>           bit-depth reduction to b bits (1..15)
//   TR_DEFENSE_MEDIAN=<k>         median of each channel's k x k window (2..5)
//   TR_DEFENSE_MEDIAN_FIRST=1     with both: the median was asked first (the bytes are the
//                                 same in either order: DefendInput in defense.cc)
//   TR_DEFENSE_LO, TR_DEFENSE_HI  the lattice: the raw values of pixels 0 and 1
//   TR_DEFENSE_TYPE=1|2           the input's element type (engine.h: int8 or int16)
//   TR_DEFENSE_BYTES=<n>          the input's size in bytes
#ifndef TINYROBUST_APP_DEFENSE_H_
#define TINYROBUST_APP_DEFENSE_H_

#include <stdint.h>

// Builds without -D flags (PlatformIO) get the defines from a header written by host.flash.
#if __has_include("tr_build_config.h")
#include "tr_build_config.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

// Element type codes (engine.h's tr_tensor_info.type) the squeezers take.
#define TR_DEFENSE_INT8 1
#define TR_DEFENSE_INT16 2

// Bit-depth reduction of `count` values of `type`: t = clip(q - lo, 0, hi - lo), level =
// round_half_up(t * L / span), out = lo + round_half_up(level * span / L), L = 2^bits - 1.
// `in` and `out` may be the same buffer. Returns 0, or -1 for a bad type, lattice or depth.
int tr_squeeze_bits(int32_t type, const void* in, void* out, uint32_t count, int32_t bits,
                    int32_t lo, int32_t hi);

// Median of every channel's size x size window of an HWC image of `type` (edges mirrored, the
// upper median for an even window). `in` and `out` must not overlap. Returns 0, or -1 for a bad
// type, shape or size.
int tr_squeeze_median(int32_t type, const void* in, void* out, int32_t height, int32_t width,
                      int32_t channels, int32_t size);

#ifdef __cplusplus
}
#endif

#if defined(TR_DEFENSE_BITS) || defined(TR_DEFENSE_MEDIAN)
#define TR_DEFENSE_ENABLED 1
#define TR_DEFENSE_STR_(x) #x
#define TR_DEFENSE_STR(x) TR_DEFENSE_STR_(x)
#if defined(TR_DEFENSE_BITS) && defined(TR_DEFENSE_MEDIAN)
#if TR_DEFENSE_MEDIAN_FIRST
#define TR_DEFENSE_SUFFIX \
  "+median" TR_DEFENSE_STR(TR_DEFENSE_MEDIAN) "+bits" TR_DEFENSE_STR(TR_DEFENSE_BITS)
#else
#define TR_DEFENSE_SUFFIX \
  "+bits" TR_DEFENSE_STR(TR_DEFENSE_BITS) "+median" TR_DEFENSE_STR(TR_DEFENSE_MEDIAN)
#endif
#elif defined(TR_DEFENSE_BITS)
#define TR_DEFENSE_SUFFIX "+bits" TR_DEFENSE_STR(TR_DEFENSE_BITS)
#else
#define TR_DEFENSE_SUFFIX "+median" TR_DEFENSE_STR(TR_DEFENSE_MEDIAN)
#endif
#else
#define TR_DEFENSE_ENABLED 0
#define TR_DEFENSE_SUFFIX ""  // HELLO's engine name carries the defense: "<engine>+bits5+median2"
#endif

#ifdef __cplusplus
namespace tr {

constexpr bool kDefenseEnabled = TR_DEFENSE_ENABLED;
constexpr int kDefenseRefused = 2;  // RESULT status: DefendInput refused the model's input

#if TR_DEFENSE_ENABLED
// The defended copy of one model input (one static buffer of the input's size; `input` itself
// is never modified), or nullptr when the model's input is not the one the firmware was built
// for.
const uint8_t* DefendInput(const uint8_t* input);
#else
inline const uint8_t* DefendInput(const uint8_t* input) { return input; }
#endif

}  // namespace tr
#endif

#endif  // TINYROBUST_APP_DEFENSE_H_
