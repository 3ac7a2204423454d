// MIRROR_PAD, int8 (TFLite Micro's mirror_pad.cc): each output value is the input value at the
// sum of one precomputed offset per dimension (the mirrored index times the input stride).
#include "kernels.h"

namespace tr {

void MirrorPad(const MirrorPadParams& p, const int8_t* input, int8_t* output) {
  const int32_t* n = p.count;
  const int32_t* t0 = p.offsets;  // each dimension's table follows the previous one
  const int32_t* t1 = t0 + n[0];
  const int32_t* t2 = t1 + n[1];
  const int32_t* t3 = t2 + n[2];
  const int32_t* t4 = t3 + n[3];
  for (int32_t i0 = 0; i0 < n[0]; ++i0) {
    for (int32_t i1 = 0; i1 < n[1]; ++i1) {
      for (int32_t i2 = 0; i2 < n[2]; ++i2) {
        for (int32_t i3 = 0; i3 < n[3]; ++i3) {
          const int8_t* row = input + t0[i0] + t1[i1] + t2[i2] + t3[i3];
          for (int32_t i4 = 0; i4 < n[4]; ++i4) *output++ = row[t4[i4]];
        }
      }
    }
  }
}

}  // namespace tr
