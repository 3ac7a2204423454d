// The C API of the engine built as a host shared library (host/compiler/toolchain.py
// host_library; loaded by host/backends/engine.py). Not part of the firmware.
//
// The library is built with TR_ARENA_STORAGE=thread_local, so every thread has its own arena
// and a batch can be split over threads.
#include <stdint.h>

#include <thread>
#include <vector>

#include "engine.h"

namespace {

// Runs examples [begin, end) of a batch; returns 0 or the first nonzero status.
int InvokeRange(const uint8_t* input, uint8_t* output, int64_t begin, int64_t end) {
  const uint32_t in_bytes = tr_model.input.bytes;
  const uint32_t out_bytes = tr_model.output.bytes;
  for (int64_t i = begin; i < end; ++i) {
    const int status = tr_model_invoke(input + i * in_bytes, output + i * out_bytes);
    if (status != 0) return status;
  }
  return 0;
}

}  // namespace

extern "C" {

// Runs n examples: raw inputs back to back in `input`, raw outputs written back to back to
// `output`. The batch is cut into `threads` contiguous parts (the caller's thread runs the
// first). Returns 0 on success, else the first nonzero status of tr_model_invoke.
int tr_host_invoke_batch(const void* input, void* output, int64_t n, int32_t threads) {
  const uint8_t* in = static_cast<const uint8_t*>(input);
  uint8_t* out = static_cast<uint8_t*>(output);
  const int64_t parts = threads < 1 ? 1 : (threads > n ? (n > 0 ? n : 1) : threads);
  std::vector<int> status(parts, 0);
  std::vector<std::thread> workers;
  workers.reserve(parts - 1);
  for (int64_t part = 1; part < parts; ++part) {
    workers.emplace_back([=, &status] {
      status[part] = InvokeRange(in, out, n * part / parts, n * (part + 1) / parts);
    });
  }
  status[0] = InvokeRange(in, out, 0, n / parts);
  for (std::thread& worker : workers) worker.join();
  for (const int s : status) {
    if (s != 0) return s;
  }
  return 0;
}

}  // extern "C"
