// Plain data a pipeline step carries (no CAF): tensors between stages and the
// sampling settings of the last stage. Their inspect() overloads are in
// actors/messages.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::actors {

// A named tensor as raw little-endian bytes (dtype uses wire::DType numbering:
// 1 float32, 2 float16, 3 int64).
struct tensor_blob {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  std::string data;
};

struct sampling_params {
  float temperature = 1.0f;
  int64_t top_k = 0;   // 0: off
  float top_p = 1.0f;  // 1: off
  float random = 0.0f; // uniform [0,1), drawn per step by the request (seeded)
};

}  // namespace tessera::actors
