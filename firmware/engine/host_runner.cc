// Host (x86) runner for tests: reads raw inputs for N examples from stdin, one after the other,
// runs the compiled model on each and writes the raw outputs to stdout.
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

int main() {
  const uint32_t in_bytes = tr_model.input.bytes;
  const uint32_t out_bytes = tr_model.output.bytes;
  unsigned char* input = static_cast<unsigned char*>(malloc(in_bytes));
  unsigned char* output = static_cast<unsigned char*>(malloc(out_bytes));
  if (input == nullptr || output == nullptr) return 1;
  while (fread(input, 1, in_bytes, stdin) == in_bytes) {
    if (tr_model_invoke(input, output) != 0) return 2;
    if (fwrite(output, 1, out_bytes, stdout) != out_bytes) return 3;
  }
  free(input);
  free(output);
  return 0;
}
