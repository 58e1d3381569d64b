// Internal to the builder: emits the decoder graph node by node (prelude,
// embedding, layers, head) and streams each weight into the data file.
#pragma once

#include <string>

#include "model/build/llama_builder.hpp"
#include "model/build/onnx_builder_graph.hpp"

namespace tessera::model {

struct llama_graph_builder {
  graph_writer& g;
  external_data_file& data;
  weight_source& weights;
  const llama_config& config;
  weight_dtype dtype;

  // Declares inputs/outputs and emits every node of the model.
  void build();

private:
  struct prelude {
    std::string cos, sin, mask;
  };
  prelude build_prelude();
  std::string build_layer(int i, const std::string& x, const prelude& pre);
  std::string rms_norm(const std::string& x, const std::string& hf_weight, const std::string& prefix);
  std::string rotary(const std::string& x, const prelude& pre, const std::string& prefix);
  std::string linear(const std::string& x, const std::string& hf_prefix, int64_t in, int64_t out, bool bias,
                     const std::string& prefix);
  // Writes the weight (transposed to [in, out] for matrices) and returns a float32 tensor name
  // (the initializer itself, or a Cast of it for fp16). The initializer is named `stored_name`
  // when given (the tied head reads the embedding but stores it as lm_head.weight).
  std::string matrix_weight(const std::string& hf_name, int64_t out, int64_t in, const std::string& prefix,
                            const std::string& stored_name = "");
  std::string vector_weight(const std::string& hf_name, int64_t n, const std::string& prefix);
  std::string store(const std::string& hf_name, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string as_float(const std::string& stored, const std::string& prefix);
};

}  // namespace tessera::model
