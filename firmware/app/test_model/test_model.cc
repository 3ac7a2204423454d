// A tiny hand-written model behind the engine interface, for protocol tests without a compiler.
// Input int8 [1,8,8,3]; output int8 [1,10]: out[j] = clamp((j + 1) * sum(in[i], i % 10 == j) / 16).
// It also runs a loop of exactly 2 instructions per iteration, 1000 * (uint8)in[0] times, so tests
// can check that the firmware's counter counts instructions.
#include <stdint.h>

#include "engine.h"

extern "C" {

const tr_model_info tr_model = {
    "test-model",
    {0x74, 0x65, 0x73, 0x74},  // "test", then zeros
    0,
    0,
    {4, {1, 8, 8, 3, 0, 0}, 1, 1.0f / 255.0f, -128, 192},
    {2, {1, 10, 0, 0, 0, 0}, 1, 0.0625f, 0, 10},
    1,
};

int tr_model_invoke(const void* input, void* output) {
  const int8_t* in = static_cast<const int8_t*>(input);
  int8_t* out = static_cast<int8_t*>(output);
  uint32_t spins = 1000u * static_cast<uint8_t>(in[0]);
  if (spins != 0) {
    __asm volatile(
        "1: subs %0, %0, #1\n"
        "   bne 1b"
        : "+r"(spins)
        :
        : "cc");
  }
  int32_t sums[10] = {0};
  for (int32_t i = 0; i < 192; i++) {
    sums[i % 10] += in[i];
  }
  for (int32_t j = 0; j < 10; j++) {
    int32_t v = (j + 1) * sums[j] / 16;
    out[j] = static_cast<int8_t>(v > 127 ? 127 : (v < -128 ? -128 : v));
  }
  return 0;
}

}  // extern "C"
