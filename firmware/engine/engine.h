// tinyrobust inference engine: the C interface of one compiled model.
// The model source is generated ahead of time by host.compiler from a .tflite file.
#ifndef TINYROBUST_ENGINE_H_
#define TINYROBUST_ENGINE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// One input or output tensor.
typedef struct {
  int32_t rank;
  int32_t dims[6];
  int32_t type; /*1=int8, 2=int16, 3=float32 (a float-I/O model: scale 1, zero point 0), 4=uint8*/
  float scale;
  int32_t zero_point;
  uint32_t bytes;
} tr_tensor_info;

// One compiled model.
typedef struct {
  const char* name;
  uint8_t sha256[32];
  uint32_t arena_bytes;
  uint32_t weight_bytes;
  tr_tensor_info input;
  tr_tensor_info output;
  uint32_t op_count;
} tr_model_info;

extern const tr_model_info tr_model;  // generated

// Runs the model; input and output are raw integers in C order. Returns 0 on success.
int tr_model_invoke(const void* input, void* output);  // generated

// Called by tr_model_invoke after op `index` (0 to op_count - 1) has run, in order. The model
// source defines a weak no-op; the firmware defines it to read its counter (per-op counts).
void tr_op_done(uint32_t index);

#ifdef __cplusplus
}
#endif

#endif  // TINYROBUST_ENGINE_H_
