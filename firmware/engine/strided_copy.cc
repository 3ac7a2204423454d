// STRIDED_SLICE, SLICE and TRANSPOSE, int8 and int16 (TFLite Micro reference: each output
// element, in order, is one input element; the values are copied unchanged).
#include <string.h>

#include "kernels.h"

namespace tr {
namespace {

// The innermost dimension: count elements, stride apart in the input.
template <typename T>
T* CopyRow(const T* input, T* output, int32_t count, int32_t stride) {
  if (stride == 1) {
    memcpy(output, input, count * sizeof(T));
    return output + count;
  }
  for (int32_t i = 0; i < count; ++i) *output++ = input[i * stride];
  return output;
}

template <typename T>
void StridedCopyTyped(const StridedCopyParams& p, const T* input, T* output) {
  const int32_t* n = p.count;
  const int32_t* s = p.stride;
  for (int32_t i0 = 0; i0 < n[0]; ++i0) {
    const T* in0 = input + p.start + i0 * s[0];
    for (int32_t i1 = 0; i1 < n[1]; ++i1) {
      const T* in1 = in0 + i1 * s[1];
      for (int32_t i2 = 0; i2 < n[2]; ++i2) {
        const T* in2 = in1 + i2 * s[2];
        for (int32_t i3 = 0; i3 < n[3]; ++i3) {
          output = CopyRow(in2 + i3 * s[3], output, n[4], s[4]);
        }
      }
    }
  }
}

}  // namespace

void StridedCopy(const StridedCopyParams& p, const void* input, void* output) {
  if (p.element_bytes == 2) {
    StridedCopyTyped(p, static_cast<const int16_t*>(input), static_cast<int16_t*>(output));
  } else {
    StridedCopyTyped(p, static_cast<const int8_t*>(input), static_cast<int8_t*>(output));
  }
}

}  // namespace tr
