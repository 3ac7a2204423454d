// ADD of same-shape tensors, int8 and int16: add.cc's rescaling, kLanes elements at a time.
#include "simd.h"
#include "x86_kernels.h"

namespace tr {
namespace x86 {

#if defined(TR_X86_SIMD)
namespace {

// add.cc's Scale (a right shift by -shift, shift <= 0) of every lane.
inline Vec Scale(Vec x, Vec multiplier, Vec right) {
  return MultiplyByQuantizedMultiplier(x, multiplier, Zero(), right);
}

template <typename T>
void AddT(const AddParams& p, const T* input1, const T* input2, T* output) {
  const Vec offset1 = Set1(p.input1_offset), offset2 = Set1(p.input2_offset);
  const Vec left = Set1(p.left_shift);
  const Vec m1 = Set1(p.input1_multiplier), r1 = Set1(-p.input1_shift);
  const Vec m2 = Set1(p.input2_multiplier), r2 = Set1(-p.input2_shift);
  const Vec mo = Set1(p.output_multiplier), ro = Set1(-p.output_shift);
  const Vec out_offset = Set1(p.output_offset), lo = Set1(p.act_min), hi = Set1(p.act_max);
  for (int32_t i = 0; i < p.size; i += kLanes) {
    const int32_t n = p.size - i < kLanes ? p.size - i : kLanes;
    T a[kLanes] = {}, b[kLanes] = {}, out[kLanes];
    const T* x1 = input1 + i;
    const T* x2 = input2 + i;
    if (n < kLanes) {  // the last, partial vector: through buffers
      memcpy(a, x1, n * sizeof(T));
      memcpy(b, x2, n * sizeof(T));
      x1 = a;
      x2 = b;
    }
    const Vec s1 = Scale(ShiftLeft(Add(LoadLanes(x1), offset1), left), m1, r1);
    const Vec s2 = Scale(ShiftLeft(Add(LoadLanes(x2), offset2), left), m2, r2);
    const Vec sum = Add(Scale(Add(s1, s2), mo, ro), out_offset);
    const Vec v = Min(Max(sum, lo), hi);
    if (n == kLanes) {
      StoreLanes(output + i, v);
    } else {
      StoreLanes(out, v);
      memcpy(output + i, out, n * sizeof(T));
    }
  }
}

// add.cc's shifts are all right shifts (and left_shift a small headroom): anything else is
// left to the portable kernel.
bool Supported(const AddParams& p) {
  return p.input1_shift <= 0 && p.input2_shift <= 0 && p.output_shift <= 0 && p.left_shift >= 0 &&
         p.left_shift < 31;
}

}  // namespace

bool AddS8(const AddParams& p, const int8_t* input1, const int8_t* input2, int8_t* output) {
  if (!Supported(p)) return false;
  AddT(p, input1, input2, output);
  return true;
}

bool AddS16(const AddParams& p, const int16_t* input1, const int16_t* input2, int16_t* output) {
  if (!Supported(p)) return false;
  AddT(p, input1, input2, output);
  return true;
}

#else
bool AddS8(const AddParams&, const int8_t*, const int8_t*, int8_t*) { return false; }
bool AddS16(const AddParams&, const int16_t*, const int16_t*, int16_t*) { return false; }
#endif

}  // namespace x86
}  // namespace tr
