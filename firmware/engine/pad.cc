// PAD and PADV2, int8 and int16, up to 4-D (TFLite Micro reference: the input's values are
// copied unchanged, every other output value is the pad value).
#include "kernels.h"

namespace tr {
namespace {

template <typename T>
void Fill(T* output, int32_t count, T value) {
  for (int32_t i = 0; i < count; ++i) output[i] = value;
}

template <typename T>
void Pad(const PadParams& p, const T* input, T* output) {
  const T value = static_cast<T>(p.pad_value);
  const int32_t after3 = p.out3 - p.before3 - p.in3;
  for (int32_t o0 = 0; o0 < p.out0; ++o0) {
    const int32_t i0 = o0 - p.before0;
    for (int32_t o1 = 0; o1 < p.out1; ++o1) {
      const int32_t i1 = o1 - p.before1;
      for (int32_t o2 = 0; o2 < p.out2; ++o2) {
        const int32_t i2 = o2 - p.before2;
        if (i0 < 0 || i0 >= p.in0 || i1 < 0 || i1 >= p.in1 || i2 < 0 || i2 >= p.in2) {
          Fill(output, p.out3, value);
        } else {
          const T* row = input + ((i0 * p.in1 + i1) * p.in2 + i2) * p.in3;
          Fill(output, p.before3, value);
          for (int32_t i = 0; i < p.in3; ++i) output[p.before3 + i] = row[i];
          Fill(output + p.before3 + p.in3, after3, value);
        }
        output += p.out3;
      }
    }
  }
}

}  // namespace

void PadS8(const PadParams& p, const int8_t* input, int8_t* output) { Pad(p, input, output); }

void PadS16(const PadParams& p, const int16_t* input, int16_t* output) { Pad(p, input, output); }

}  // namespace tr
