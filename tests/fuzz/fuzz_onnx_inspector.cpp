// model.onnx bytes through the inspector (ONNX protobuf parse, decoder-graph
// analysis, per-layer costs): model_stats or a model_error. The seeds keep
// their weights in model.onnx.data, which the inspector checks for: a 64 KiB
// file of zeros stands beside every input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input_file.hpp"
#include "model/base/model_error.hpp"
#include "model/graph/graph_inspector.hpp"

namespace {
struct onnx_input : tessera::fuzz::input_file {
  onnx_input() : input_file("model.onnx") { write_beside("model.onnx.data", std::string(64 << 10, '\0')); }
} file;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::model;
  try {
    (void)inspect_model(file.write(data, size));
  } catch (const model_error&) {
  }
  return 0;
}
