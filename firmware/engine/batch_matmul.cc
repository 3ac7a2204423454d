// BATCH_MATMUL, int8 and int16 (TFLite Micro reference BatchMatMul: per batch, a matrix product
// of the offset values summed in int32 (int8) or int64 (int16), requantized and clamped to the
// type's range; adj_x and adj_y only change which strides walk the operands).
#include "fixed_point.h"
#include "kernels.h"

namespace tr {
namespace {

template <typename T, typename Acc>
void BatchMatMul(const BatchMatMulParams& p, const T* lhs, const T* rhs, T* output) {
  for (int32_t b0 = 0; b0 < p.batches[0]; ++b0) {
    for (int32_t b1 = 0; b1 < p.batches[1]; ++b1) {
      for (int32_t b2 = 0; b2 < p.batches[2]; ++b2) {
        const T* l = lhs + b0 * p.lhs_batch[0] + b1 * p.lhs_batch[1] + b2 * p.lhs_batch[2];
        const T* r = rhs + b0 * p.rhs_batch[0] + b1 * p.rhs_batch[1] + b2 * p.rhs_batch[2];
        for (int32_t i = 0; i < p.rows; ++i) {
          for (int32_t j = 0; j < p.cols; ++j) {
            Acc acc = 0;
            for (int32_t k = 0; k < p.depth; ++k) {
              const Acc a = l[i * p.lhs_row_stride + k * p.lhs_depth_stride] + p.lhs_offset;
              const Acc b = r[k * p.rhs_depth_stride + j * p.rhs_col_stride] + p.rhs_offset;
              acc += a * b;
            }
            if constexpr (sizeof(T) == 1) {
              *output++ = RequantizeS8(acc, p.multiplier, p.shift, p.output_offset, -128, 127);
            } else {
              *output++ = RequantizeS16(acc, p.multiplier, p.shift, -32768, 32767);
            }
          }
        }
      }
    }
  }
}

}  // namespace

void BatchMatMulS8(const BatchMatMulParams& p, const int8_t* lhs, const int8_t* rhs,
                   int8_t* output) {
  BatchMatMul<int8_t, int32_t>(p, lhs, rhs, output);
}

void BatchMatMulS16(const BatchMatMulParams& p, const int16_t* lhs, const int16_t* rhs,
                    int16_t* output) {
  BatchMatMul<int16_t, int64_t>(p, lhs, rhs, output);
}

}  // namespace tr
