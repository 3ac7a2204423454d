// LOGISTIC and TANH, as TFLite Micro's reference integer kernels compute them:
// - int8: gemmlowp's fixed-point logistic / tanh on the input rescaled to Q4.27, saturating
//   outside the input range radius; outputs in Q0.8 (logistic, zero point -128) and Q0.7 (tanh);
// - int16: linear interpolation in TFLite's sigmoid table, tanh(x) = 2 sigmoid(2x) - 1.
#include "fixed_point.h"
#include "fixedpoint/fixedpoint.h"
#include "kernels.h"

namespace tr {
namespace {

// TFLite's sigmoid_table_uint16: sigmoid(i / 24) in Q0.16 (saturated at 65535), i = 0..255.
constexpr uint16_t kSigmoidTable[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535};

using Q4 = gemmlowp::FixedPoint<int32_t, 4>;

// One int8 value: saturated outside the radius, else f(x) in Q0.31 rounded to 2^-out_bits.
template <bool kTanh>
int8_t SigmoidS8Value(const SigmoidParams& p, int32_t value) {
  constexpr int kOutputBits = kTanh ? 7 : 8;
  constexpr int32_t kOutputZeroPoint = kTanh ? 0 : -128;
  const int32_t x = value - p.input_zero_point;
  if (x <= -p.input_range_radius) return -128;
  if (x >= p.input_range_radius) return 127;
  const Q4 q4 = Q4::FromRaw(MultiplyByQuantizedMultiplier(x, p.input_multiplier, p.input_shift));
  const int32_t q0 = kTanh ? gemmlowp::tanh(q4).raw() : gemmlowp::logistic(q4).raw();
  const int32_t y = RoundingDivideByPOT(q0, 31 - kOutputBits) + kOutputZeroPoint;
  return static_cast<int8_t>(Clamp(y, -128, 127));
}

// The same values, looked up in a table of all 256 inputs when the tensor is larger.
template <bool kTanh>
void SigmoidS8(const SigmoidParams& p, const int8_t* input, int8_t* output) {
  if (p.size <= 256) {
    for (int32_t i = 0; i < p.size; ++i) output[i] = SigmoidS8Value<kTanh>(p, input[i]);
    return;
  }
  int8_t table[256];
  for (int32_t v = -128; v < 128; ++v) table[v + 128] = SigmoidS8Value<kTanh>(p, v);
  for (int32_t i = 0; i < p.size; ++i) output[i] = table[input[i] + 128];
}

// The input on the table's scale (x / 2^7 of a step is 1 / 24 for logistic).
inline int32_t TableInput(const SigmoidParams& p, int16_t x) {
  const int32_t round = p.input_shift > 0 ? 1 << (p.input_shift - 1) : 0;
  return (x * p.input_multiplier + round) >> p.input_shift;
}

// sigmoid(|x|) interpolated between entries |x| >> fraction_bits and the next, scaled by
// 2^fraction_bits; ``saturated`` at and beyond the last entry.
inline uint32_t Interpolate(uint32_t magnitude, int fraction_bits, uint32_t saturated) {
  const uint32_t index = magnitude >> fraction_bits;
  if (index >= 255) return saturated;
  const uint32_t low = kSigmoidTable[index];
  const uint32_t high = kSigmoidTable[index + 1];
  const uint32_t fraction = magnitude & ((1u << fraction_bits) - 1);
  return (low << fraction_bits) + fraction * (high - low);
}

}  // namespace

void LogisticS8(const SigmoidParams& p, const int8_t* input, int8_t* output) {
  SigmoidS8<false>(p, input, output);
}

void TanhS8(const SigmoidParams& p, const int8_t* input, int8_t* output) {
  SigmoidS8<true>(p, input, output);
}

void LogisticS16(const SigmoidParams& p, const int16_t* input, int16_t* output) {
  for (int32_t i = 0; i < p.size; ++i) {
    const int32_t x = TableInput(p, input[i]);
    const uint32_t magnitude = static_cast<uint32_t>(x < 0 ? -x : x);
    uint32_t result = Interpolate(magnitude, 9, 0x7FFFu << 10);
    // sigmoid(-x) = 1 - sigmoid(x); Q0.16 * 2^9 back to Q0.15, rounded.
    result = x >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1;
    output[i] = static_cast<int16_t>(result >> 10);
  }
}

void TanhS16(const SigmoidParams& p, const int16_t* input, int16_t* output) {
  for (int32_t i = 0; i < p.size; ++i) {
    const int32_t x = TableInput(p, input[i]);
    const uint32_t magnitude = static_cast<uint32_t>(x < 0 ? -x : x);
    const int32_t s = static_cast<int32_t>(Interpolate(magnitude, 8, 0xFFFFu << 8));
    // tanh = 2 sigmoid - 1, odd; Q0.16 * 2^8 to Q0.15, rounded.
    const int32_t result = x >= 0 ? s - (1 << 23) + (1 << 7) : -s + (1 << 23) + (1 << 7) - 1;
    output[i] = static_cast<int16_t>(result >> 8);
  }
}

}  // namespace tr
