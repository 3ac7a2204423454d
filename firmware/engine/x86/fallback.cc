// Until an x86 kernel exists for an op, the portable kernel computes it.
#include "x86_kernels.h"

namespace tr {
namespace x86 {

bool ConvS8(const ConvParams&, const int8_t*, int8_t*) { return false; }
bool ConvS16(const ConvParams&, const int16_t*, int16_t*) { return false; }
bool DepthwiseConvS8(const ConvParams&, const int8_t*, int8_t*) { return false; }
bool DepthwiseConvS16(const ConvParams&, const int16_t*, int16_t*) { return false; }
bool FullyConnectedS8(const FullyConnectedParams&, const int8_t*, int8_t*) { return false; }
bool FullyConnectedS16(const FullyConnectedParams&, const int16_t*, int16_t*) { return false; }
bool AddS8(const AddParams&, const int8_t*, const int8_t*, int8_t*) { return false; }
bool AddS16(const AddParams&, const int16_t*, const int16_t*, int16_t*) { return false; }

}  // namespace x86
}  // namespace tr
