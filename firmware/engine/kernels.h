// Kernel parameters (precomputed by the host compiler) and kernel entry points.
// Every kernel computes, byte for byte, what TFLite Micro's reference kernel computes.
// Each struct is filled by one prepare module, host/compiler/ops/<op>.py. The generated model
// sets its fields by name, in declaration order (designated initializers), so a misspelt,
// misordered or missing field fails the build; pointer fields an op does not use stay nullptr.
#ifndef TINYROBUST_KERNELS_H_
#define TINYROBUST_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

namespace tr {

// CONV_2D and DEPTHWISE_CONV_2D (NHWC input, batch 1).
// int8: bias32 is the int32 bias; bias_folded holds bias + input_offset * sum(filter) for
// windows that padding does not cut. int16: bias64 is the int64 bias, inputs have zero point 0.
struct ConvParams {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t dil_h, dil_w;
  int32_t pad_h, pad_w;
  int32_t depth_multiplier;  // depthwise only
  int32_t input_offset;      // -input zero point (int8 only)
  int32_t output_offset;     // output zero point (int8 only)
  int32_t act_min, act_max;
  // conv: [out_c][k_h][k_w][in_c]; depthwise: [k_h][k_w][out_c]
  const int8_t* filter = nullptr;
  const int32_t* bias32 = nullptr;       // int8 kernels
  const int32_t* bias_folded = nullptr;  // int8 kernels
  const int64_t* bias64 = nullptr;       // int16 kernels
  const int32_t* multiplier = nullptr;   // per output channel
  const int32_t* shift = nullptr;        // per output channel
  // depthwise only
  // int8, depth multiplier 1: [out_c / 4][k_h * k_w][2] int16 pairs, channels (0, 2) then (1, 3)
  // of each group of 4 (host/compiler/ops/depthwise_conv.py)
  const int32_t* filter_pairs = nullptr;
};

// FULLY_CONNECTED: rows x depth input, units outputs per row.
struct FullyConnectedParams {
  int32_t rows, depth, units;
  int32_t output_offset;
  int32_t act_min, act_max;
  const int8_t* filter = nullptr;        // [units][depth]
  const int32_t* bias_folded = nullptr;  // int8: bias + input_offset * sum(filter row)
  const int64_t* bias64 = nullptr;       // int16
  const int32_t* multiplier = nullptr;   // per unit (per-tensor models repeat the value)
  const int32_t* shift = nullptr;
};

// AVERAGE_POOL_2D and MAX_POOL_2D (batch 1).
struct PoolParams {
  int32_t in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t act_min, act_max;
};

// SOFTMAX over the last dimension.
struct SoftmaxParams {
  int32_t rows, depth;
  int32_t input_multiplier, input_left_shift;
  int32_t diff_min;                    // int8 input
  const int16_t* exp_lut = nullptr;    // int16 input: 513 entries
  const int16_t* recip_lut = nullptr;  // int16 input: 513 entries, 1 / (1 + x)
};

void ConvS8(const ConvParams& p, const int8_t* input, int8_t* output);
void ConvS16(const ConvParams& p, const int16_t* input, int16_t* output);
void DepthwiseConvS8(const ConvParams& p, const int8_t* input, int8_t* output);
void DepthwiseConvS16(const ConvParams& p, const int16_t* input, int16_t* output);
void FullyConnectedS8(const FullyConnectedParams& p, const int8_t* input, int8_t* output);
void FullyConnectedS16(const FullyConnectedParams& p, const int16_t* input, int16_t* output);
void AveragePoolS8(const PoolParams& p, const int8_t* input, int8_t* output);
void AveragePoolS16(const PoolParams& p, const int16_t* input, int16_t* output);
void MaxPoolS8(const PoolParams& p, const int8_t* input, int8_t* output);
void MaxPoolS16(const PoolParams& p, const int16_t* input, int16_t* output);
void SoftmaxS8(const SoftmaxParams& p, const int8_t* input, int8_t* output);
void SoftmaxS8S16(const SoftmaxParams& p, const int8_t* input, int16_t* output);
void SoftmaxS16(const SoftmaxParams& p, const int16_t* input, int16_t* output);
// RESHAPE (and any other pure copy): bytes from input to output; a no-op when they alias.
void Copy(const void* input, void* output, size_t bytes);

// PAD and PADV2 (up to 4-D, leading dimensions of 1 added): output = input surrounded by
// pad_value (the output zero point, or PADV2's constant).
struct PadParams {
  int32_t in0, in1, in2, in3;
  int32_t before0, before1, before2, before3;
  int32_t out0, out1, out2, out3;
  int32_t pad_value;
};
void PadS8(const PadParams& p, const int8_t* input, int8_t* output);
void PadS16(const PadParams& p, const int16_t* input, int16_t* output);

// MEAN over height and width (axes 1 and 2) of a batch-1 NHWC input: per channel, the sum of
// its count values, (sum + input_offset * count) * multiplier * 2^shift + output_offset.
struct MeanParams {
  int32_t count, channels;
  int32_t input_offset, output_offset;
  int32_t multiplier, shift;
};
void MeanS8(const MeanParams& p, const int8_t* input, int8_t* output);
void MeanS16(const MeanParams& p, const int16_t* input, int16_t* output);

// CONCATENATION of int8 or int16 tensors sharing one quantization: for each of `outer`
// indices (the dimensions before the axis), input_bytes[i] bytes of each input in turn.
struct ConcatParams {
  int32_t inputs;
  int32_t outer;
  int32_t output_bytes;  // per outer index: the sum of input_bytes
  const int32_t* input_bytes = nullptr;
};
// pointers: the inputs, then the output.
void ConcatBytes(const ConcatParams& p, const void* const* pointers);
template <typename... Pointers>
void Concat(const ConcatParams& p, Pointers... inputs_then_output) {
  const void* const pointers[] = {inputs_then_output...};
  ConcatBytes(p, pointers);
}

// RELU and RELU6 as ops: with requantize (RELU), clamp(output_offset + (x - input_offset) *
// multiplier * 2^shift); without (RELU6), clamp(x), bounds in the input's scale.
struct ActivationParams {
  int32_t size;
  int32_t input_offset, output_offset;
  int32_t requantize;
  int32_t multiplier, shift;
  int32_t act_min, act_max;
};
void ActivationS8(const ActivationParams& p, const int8_t* input, int8_t* output);
void ActivationS16(const ActivationParams& p, const int16_t* input, int16_t* output);

// ---- Element-wise binary ops: ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE ----
// ADD of two tensors of the same shape.
struct AddParams {
  int32_t size;
  int32_t input1_offset, input2_offset, output_offset;
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
};

void AddS8(const AddParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
void AddS16(const AddParams& p, const int16_t* input1, const int16_t* input2, int16_t* output);

// Elementwise binary ops with broadcasting (broadcast.h): the output as 4 merged dimensions
// (outermost first) with each input's element stride along them (0 where it is broadcast), the
// arithmetic constants of the op (fields an op does not use are 0), and at most one constant
// input (constant_input 1 or 2: that operand is constant8 or constant16; the kernel's
// two-pointer overload then takes the other input and the output).
struct BinaryParams {
  int32_t out0, out1, out2, out3;
  int32_t a_stride0, a_stride1, a_stride2, a_stride3;
  int32_t b_stride0, b_stride1, b_stride2, b_stride3;
  int32_t input1_offset, input2_offset, output_offset;
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
  int32_t constant_input;
  const int8_t* constant8 = nullptr;
  const int16_t* constant16 = nullptr;
};

// ADD (broadcast or with a constant input) and SUB: TFLite Micro's rescaled sum or difference.
void AddBroadcastS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2,
                    int8_t* output);
void AddBroadcastS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void AddBroadcastS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                     int16_t* output);
void AddBroadcastS16(const BinaryParams& p, const int16_t* input, int16_t* output);
void SubS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
void SubS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void SubS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2, int16_t* output);
void SubS16(const BinaryParams& p, const int16_t* input, int16_t* output);
// MUL: (x1 + input1_offset) * (x2 + input2_offset) * output multiplier + output_offset.
void MulS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
void MulS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void MulS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2, int16_t* output);
void MulS16(const BinaryParams& p, const int16_t* input, int16_t* output);
// MAXIMUM and MINIMUM of the raw values (as TFLite Micro: no requantization).
void MaximumS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
void MaximumS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void MaximumS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                int16_t* output);
void MaximumS16(const BinaryParams& p, const int16_t* input, int16_t* output);
void MinimumS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2, int8_t* output);
void MinimumS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void MinimumS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                int16_t* output);
void MinimumS16(const BinaryParams& p, const int16_t* input, int16_t* output);
// SQUARED_DIFFERENCE: ADD's rescaled terms (left_shift 7 for int8, 0 for int16), their
// difference squared, then the output rescaling.
void SquaredDifferenceS8(const BinaryParams& p, const int8_t* input1, const int8_t* input2,
                         int8_t* output);
void SquaredDifferenceS8(const BinaryParams& p, const int8_t* input, int8_t* output);
void SquaredDifferenceS16(const BinaryParams& p, const int16_t* input1, const int16_t* input2,
                          int16_t* output);
void SquaredDifferenceS16(const BinaryParams& p, const int16_t* input, int16_t* output);
// ---- Activations: LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, PRELU ----
// LOGISTIC and TANH. int8: inputs within input_range_radius of the zero point are rescaled
// to Q4.27 (input_multiplier * 2^input_shift) for gemmlowp's fixed-point logistic or tanh, the
// others saturate. int16: x * input_multiplier / 2^input_shift (rounded) indexes TFLite's
// 256-entry sigmoid table (sigmoid(i / 24) in Q0.16) with linear interpolation.
struct SigmoidParams {
  int32_t size;
  int32_t input_zero_point, input_range_radius;  // int8
  int32_t input_multiplier, input_shift;
};
void LogisticS8(const SigmoidParams& p, const int8_t* input, int8_t* output);
void LogisticS16(const SigmoidParams& p, const int16_t* input, int16_t* output);
void TanhS8(const SigmoidParams& p, const int8_t* input, int8_t* output);
void TanhS16(const SigmoidParams& p, const int16_t* input, int16_t* output);

// HARD_SWISH (int8): x * relu6(x + 3) / 6 in 16-bit fixed point, TFLite's HardSwishParams.
struct HardSwishParams {
  int32_t size;
  int32_t input_zero_point, output_zero_point;
  int32_t reluish_multiplier, reluish_exponent;  // Q0.15 multiplier, shift
  int32_t output_multiplier, output_exponent;    // Q0.15 multiplier, shift <= 0
};
void HardSwishS8(const HardSwishParams& p, const int8_t* input, int8_t* output);

// LEAKY_RELU: x >= 0 rescaled by the identity multiplier, x < 0 by alpha's (its magnitude;
// alpha_negative negates the product).
struct LeakyReluParams {
  int32_t size;
  int32_t input_offset, output_offset;  // zero points
  int32_t identity_multiplier, identity_shift;
  int32_t alpha_multiplier, alpha_shift, alpha_negative;
};
void LeakyReluS8(const LeakyReluParams& p, const int8_t* input, int8_t* output);
void LeakyReluS16(const LeakyReluParams& p, const int16_t* input, int16_t* output);

// PRELU (int8) with a constant alpha repeating every alpha_size values of the input (alpha
// broadcast over the leading dimensions; the compiler expands other broadcasts).
struct PreluParams {
  int32_t size, alpha_size;
  int32_t input_offset, alpha_offset, output_offset;  // -zp, -zp, +zp
  int32_t multiplier_1, shift_1;                      // x >= 0: input scale / output scale
  int32_t multiplier_2, shift_2;  // x < 0: input scale * alpha scale / output scale
  const int8_t* alpha = nullptr;
};
void PreluS8(const PreluParams& p, const int8_t* input, int8_t* output);
// ---- QUANTIZE and DEQUANTIZE (float32 and uint8 model edges) ----
// QUANTIZE and DEQUANTIZE of `size` values. float -> int (TFLite's AffineQuantize):
// round(x / scale) half away from zero, in float, + output_offset, clamped to the output type.
// int -> int (Requantize, int8/int16, and uint8 at a model's edge): output_offset +
// (x - input_offset) * multiplier * 2^shift, clamped to the output type.
// int -> float (Dequantize): (x - input_offset) * scale.
struct QuantizeParams {
  int32_t size;
  int32_t input_offset, output_offset;
  int32_t multiplier, shift;     // int -> int only
  const float* scale = nullptr;  // float -> int: the output scale; int -> float: the input's
};
void QuantizeF32S8(const QuantizeParams& p, const float* input, int8_t* output);
void QuantizeF32S16(const QuantizeParams& p, const float* input, int16_t* output);
void RequantizeS8S8(const QuantizeParams& p, const int8_t* input, int8_t* output);
void RequantizeS8S16(const QuantizeParams& p, const int8_t* input, int16_t* output);
void RequantizeS16S8(const QuantizeParams& p, const int16_t* input, int8_t* output);
void RequantizeS16S16(const QuantizeParams& p, const int16_t* input, int16_t* output);
void RequantizeU8S8(const QuantizeParams& p, const uint8_t* input, int8_t* output);
void RequantizeS8U8(const QuantizeParams& p, const int8_t* input, uint8_t* output);
void DequantizeS8F32(const QuantizeParams& p, const int8_t* input, float* output);
void DequantizeS16F32(const QuantizeParams& p, const int16_t* input, float* output);
// ---- Data movement: RESIZE_*, STRIDED_SLICE, SLICE, TRANSPOSE, GATHER, BATCH_MATMUL, ... ----
// STRIDED_SLICE, SLICE, TRANSPOSE, REVERSE_V2, BROADCAST_TO, SPACE_TO_DEPTH, DEPTH_TO_SPACE of
// int8 or int16 values (element_bytes 1 or 2): a 5-D loop over the output in order; output
// index (i0..i4) reads the input element
// start + sum(i_k * stride[k]) (strides in elements, negative for reversed slices).
struct StridedCopyParams {
  int32_t element_bytes;
  int32_t start;
  const int32_t* count = nullptr;   // 5 output dimensions, leading ones padded with 1
  const int32_t* stride = nullptr;  // 5 input strides in elements
};
void StridedCopy(const StridedCopyParams& p, const void* input, void* output);

// RESIZE_NEAREST_NEIGHBOR of a batch-1 NHWC int8 or int16 tensor: output pixel (y, x) is the
// input pixel (rows[y], cols[x]), the indices TFLite Micro computes (precomputed).
struct ResizeNearestParams {
  int32_t out_h, out_w;
  int32_t pixel_bytes;  // channels * element size
  int32_t row_bytes;    // input width * pixel_bytes
  const int32_t* rows = nullptr;
  const int32_t* cols = nullptr;
};
void ResizeNearest(const ResizeNearestParams& p, const void* input, void* output);

// RESIZE_BILINEAR of a batch-1 NHWC int8 tensor in TFLite Micro's integer arithmetic (10
// fractional bits per axis): per output row y, the input rows y0[y], y1[y] and the weight dy[y]
// of y1 (out of 1024); likewise per column.
struct ResizeBilinearParams {
  int32_t out_h, out_w, in_w, channels;
  const int32_t* y0 = nullptr;
  const int32_t* y1 = nullptr;
  const int32_t* dy = nullptr;
  const int32_t* x0 = nullptr;
  const int32_t* x1 = nullptr;
  const int32_t* dx = nullptr;
};
void ResizeBilinearS8(const ResizeBilinearParams& p, const int8_t* input, int8_t* output);

// BATCH_MATMUL of two activations: per batch (3 dimensions, broadcast by a stride of 0),
// output[i][j] = sum_k (lhs(i, k) + lhs_offset) * (rhs(k, j) + rhs_offset), requantized;
// lhs(i, k) = lhs[i * lhs_row_stride + k * lhs_depth_stride], likewise rhs (adj_x and adj_y
// are strides). int16: offsets 0, an int64 sum.
struct BatchMatMulParams {
  int32_t rows, cols, depth;
  int32_t lhs_row_stride, lhs_depth_stride;
  int32_t rhs_depth_stride, rhs_col_stride;
  int32_t lhs_offset, rhs_offset, output_offset;
  int32_t multiplier, shift;
  const int32_t* batches = nullptr;    // 3 counts
  const int32_t* lhs_batch = nullptr;  // 3 strides in elements
  const int32_t* rhs_batch = nullptr;  // 3 strides in elements
};
void BatchMatMulS8(const BatchMatMulParams& p, const int8_t* lhs, const int8_t* rhs,
                   int8_t* output);
void BatchMatMulS16(const BatchMatMulParams& p, const int16_t* lhs, const int16_t* rhs,
                    int16_t* output);

// GATHER with constant positions (int8): for each batch and outer index, the blocks of
// block_bytes at positions[batch][c] (c < count) along an axis of axis_size blocks.
struct GatherParams {
  int32_t batches, outer, count, axis_size, block_bytes;
  const int32_t* positions = nullptr;  // batches * count
};
void Gather(const GatherParams& p, const void* input, void* output);
// ---- Reductions (REDUCE_MAX, REDUCE_MIN, SUM), TRANSPOSE_CONV, MIRROR_PAD ----
// REDUCE_MAX and REDUCE_MIN of an int8 tensor (TFLite Micro reduces no int16; values kept, not
// requantized): output element (i0..i4) of the kept dimensions reads the group at
// sum(i_k * stride[k]) and keeps its largest (smallest) value over the reduced dimensions' counts
// and strides (in elements).
struct ReduceParams {
  const int32_t* count = nullptr;          // 5 kept dimensions, leading ones padded with 1
  const int32_t* stride = nullptr;         // their 5 input strides
  const int32_t* reduce_count = nullptr;   // 5 reduced dimensions, padded with 1
  const int32_t* reduce_stride = nullptr;  // their 5 input strides
};
void ReduceMaxS8(const ReduceParams& p, const int8_t* input, int8_t* output);
void ReduceMinS8(const ReduceParams& p, const int8_t* input, int8_t* output);

// SUM of an int8 or int16 tensor over the same groups as ReduceParams: each group's sum of its
// `group` values, plus group * input_offset, times multiplier * 2^shift, plus output_offset.
struct SumParams {
  int32_t group;
  int32_t input_offset, output_offset;
  int32_t multiplier, shift;
  const int32_t* count = nullptr;
  const int32_t* stride = nullptr;
  const int32_t* reduce_count = nullptr;
  const int32_t* reduce_stride = nullptr;
};
void SumS8(const SumParams& p, const int8_t* input, int8_t* output);
void SumS16(const SumParams& p, const int16_t* input, int16_t* output);

// TRANSPOSE_CONV of a batch-1 NHWC input with the ConvParams of CONV_2D: filter
// [out_c][k_h][k_w][in_c], dilation 1, pad_h and pad_w as TFLite Micro computes them from the
// output size; bias32 (int8) or bias64 (int16x8) always set (zeros without a bias).
void TransposeConvS8(const ConvParams& p, const int8_t* input, int8_t* output);
void TransposeConvS16(const ConvParams& p, const int16_t* input, int16_t* output);

// MIRROR_PAD of an int8 tensor (values copied): output element (i0..i4) reads the input at
// offsets[i0] + offsets[n0 + i1] + ... : one table of input offsets (in elements) per output
// dimension, each table as long as its count, one after the other.
struct MirrorPadParams {
  const int32_t* count = nullptr;    // 5 output dimensions, leading ones padded with 1
  const int32_t* offsets = nullptr;  // sum(count) offsets (0 for each padded dimension)
};
void MirrorPad(const MirrorPadParams& p, const int8_t* input, int8_t* output);
}  // namespace tr

#endif  // TINYROBUST_KERNELS_H_
