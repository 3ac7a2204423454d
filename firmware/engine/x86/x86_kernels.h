// x86-64 SIMD versions of the engine's heaviest kernels (AVX2, AVX-512 where the build enables
// it). Each returns true when it computed the op, false to leave it to the portable kernel.
#ifndef TINYROBUST_X86_KERNELS_H_
#define TINYROBUST_X86_KERNELS_H_

#include "kernels.h"

namespace tr {
namespace x86 {

bool ConvS8(const ConvParams& p, const int8_t* input, int8_t* output);
bool ConvS16(const ConvParams& p, const int16_t* input, int16_t* output);
bool DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output);
bool DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output);
bool FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output);
bool FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output);
bool AddS8(const AddParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
bool AddS16(const AddParams& p, const int16_t* input1, const int16_t* input2, int16_t* output);

}  // namespace x86
}  // namespace tr

#endif  // TINYROBUST_X86_KERNELS_H_
