// CONCATENATION, int8 and int16 (TFLite Micro reference: the inputs' values are copied
// unchanged, input after input along the axis, for each index of the dimensions before it).
#include <string.h>

#include "kernels.h"

namespace tr {

void ConcatBytes(const ConcatParams& p, const void* const* pointers) {
  uint8_t* output = static_cast<uint8_t*>(const_cast<void*>(pointers[p.inputs]));
  for (int32_t o = 0; o < p.outer; ++o) {
    uint8_t* row = output + o * p.output_bytes;
    for (int32_t i = 0; i < p.inputs; ++i) {
      const int32_t bytes = p.input_bytes[i];
      memcpy(row, static_cast<const uint8_t*>(pointers[i]) + o * bytes, bytes);
      row += bytes;
    }
  }
}

}  // namespace tr
