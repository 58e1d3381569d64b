// float32 <-> fp16 / bf16 conversions shared by the builder (fp16 weights) and
// the safetensors reader/writer: round to nearest even; NaN and infinities kept.
#pragma once

#include <cstdint>

namespace tessera::model {

uint16_t float_to_fp16(float f);
float fp16_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);

}  // namespace tessera::model
