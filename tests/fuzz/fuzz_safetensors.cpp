// A safetensors file (8-byte header length, JSON header, data) through
// safetensors_file: a header that opens has every tensor inside the file, so
// reading each tensor as float32 works or fails with a model_error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input_file.hpp"
#include "model/base/model_error.hpp"
#include "model/build/safetensors.hpp"

namespace {
tessera::fuzz::input_file file("model.safetensors");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::model;
  try {
    safetensors_file f(file.write(data, size));
    for (const auto& [name, t] : f.tensors()) {
      try {
        (void)f.read_float32(t);
      } catch (const model_error&) {
      }
    }
  } catch (const model_error&) {
  }
  return 0;
}
