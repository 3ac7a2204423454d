// MAXIMUM and MINIMUM with broadcasting, int8 and int16: TFLite Micro compares the raw values
// and writes the larger (smaller) one, whatever the tensors' quantization.
#include "broadcast.h"
#include "kernels.h"

namespace tr {
namespace {

template <typename T>
T Larger(T x1, T x2) {
  return x1 > x2 ? x1 : x2;
}

template <typename T>
T Smaller(T x1, T x2) {
  return x1 < x2 ? x1 : x2;
}

}  // namespace

void MaximumS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  BroadcastBinary(p, input1, input2, output, Larger<int8_t>);
}
void MaximumS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  BroadcastConstant(p, input, output, Larger<int8_t>);
}
void MaximumS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                int16_t* output) {
  BroadcastBinary(p, input1, input2, output, Larger<int16_t>);
}
void MaximumS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  BroadcastConstant(p, input, output, Larger<int16_t>);
}

void MinimumS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  BroadcastBinary(p, input1, input2, output, Smaller<int8_t>);
}
void MinimumS8(const BinaryParams& p, const int8_t* input, int8_t* output) {
  BroadcastConstant(p, input, output, Smaller<int8_t>);
}
void MinimumS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                int16_t* output) {
  BroadcastBinary(p, input1, input2, output, Smaller<int16_t>);
}
void MinimumS16(const BinaryParams& p, const int16_t* input, int16_t* output) {
  BroadcastConstant(p, input, output, Smaller<int16_t>);
}

}  // namespace tr
