// Per-layer data prepared once, at a layer's first call, and cached for the life of the process:
// filters re-laid out for the vector kernels, per-channel parameters padded to whole vectors.
#ifndef TINYROBUST_X86_PACK_H_
#define TINYROBUST_X86_PACK_H_

#include <stdint.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "simd.h"

#if defined(TR_X86_SIMD)

namespace tr {
namespace x86 {

// Whole vectors of lanes covering n channels.
inline int32_t Blocks(int32_t n) { return (n + kLanes - 1) / kLanes; }

// Per-channel requantization parameters padded to whole vectors (zero in the padding lanes).
struct ChannelParams {
  std::vector<int32_t> multiplier, left, right;
  std::vector<int32_t> bias;  // int8 kernels: what the accumulators start from

  ChannelParams(int32_t channels, const int32_t* multiplier_in, const int32_t* shift)
      : multiplier(Blocks(channels) * kLanes),
        left(multiplier.size()),
        right(multiplier.size()),
        bias(multiplier.size()) {
    for (int32_t c = 0; c < channels; ++c) {
      multiplier[c] = multiplier_in[c];
      left[c] = shift[c] > 0 ? shift[c] : 0;
      right[c] = shift[c] > 0 ? 0 : -shift[c];
    }
  }

  Requant Load(int32_t channel, int32_t offset, int32_t lo, int32_t hi) const {
    return LoadRequant(&multiplier[channel], &left[channel], &right[channel], offset, lo, hi);
  }
};

// The layer data of type Layer for the op whose parameters live at `params` (a struct of the
// generated model, static for the life of the library), made by make() on first use. Threads
// may call kernels concurrently: the map is guarded by a mutex, and an entry never moves.
template <typename Layer, typename Params, typename Make>
const Layer& Prepared(const Params& params, Make make) {
  static std::mutex mutex;
  static std::map<std::tuple<const void*, const void*, const void*>, std::unique_ptr<const Layer>>
      cache;
  const auto key =
      std::make_tuple(static_cast<const void*>(&params), static_cast<const void*>(params.filter),
                      static_cast<const void*>(params.multiplier));
  const std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[key];
  if (!entry) entry = std::make_unique<const Layer>(make());
  return *entry;
}

}  // namespace x86
}  // namespace tr

#endif  // TR_X86_SIMD
#endif  // TINYROBUST_X86_PACK_H_
