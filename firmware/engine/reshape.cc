// RESHAPE: the bytes do not change; a copy only when input and output live apart.
#include <string.h>

#include "kernels.h"

namespace tr {

void Copy(const void* input, void* output, size_t bytes) {
  if (input != output) memmove(output, input, bytes);
}

}  // namespace tr
