// Builds a Llama-family decoder as an ONNX model directory:
//   DIR/model.onnx       the graph (opset 17, IR 8), weights as external data
//   DIR/model.onnx.data  the weights, in graph order, 64-byte aligned
//   DIR/config.json      Hugging Face key names
//   DIR/tokenizer.json   the byte tokenizer description (unless disabled)
// Inputs  input_ids int64 [batch, sequence], attention_mask int64 [batch, total_sequence],
//         position_ids int64 [batch, sequence],
//         past_key_values.N.key|value float32 [batch, kv_heads, past_sequence, head_dim]
// Outputs logits float32 [batch, sequence, vocab], present.N.key|value [batch, kv_heads, total_sequence, head_dim]
// The layout of the graph is described in docs/model.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/build/llama_config.hpp"
#include "model/build/weight_source.hpp"

namespace tessera::model {

enum class weight_dtype { fp32, fp16 };

// "fp32" / "fp16"; parse throws model_error naming the bad value.
std::string to_string(weight_dtype d);
weight_dtype parse_weight_dtype(const std::string& s);

struct build_options {
  weight_dtype dtype = weight_dtype::fp32;
  bool write_byte_tokenizer = true;  // DIR/tokenizer.json for the byte-level vocabulary
  bool run_checker = true;           // onnx::checker::check_model on the result
  // Called with the temporary directory before it is renamed to DIR, to add
  // files (e.g. a Hugging Face tokenizer.json). Exceptions abort the build.
  std::function<void(const std::string& tmp_dir)> add_files;
};

struct build_result {
  std::string out_dir;
  uint64_t onnx_bytes = 0;
  uint64_t data_bytes = 0;
  uint64_t parameter_count = 0;
  int num_nodes = 0;
};

// Writes the model directory. The output appears atomically: everything is
// written to a sibling temporary directory, checked, then renamed to `out_dir`.
// An existing `out_dir` is replaced only if it is empty or holds a model
// (model.onnx or config.json); otherwise model_error. Validates `config` first.
// Deterministic: the same config, weights and options give byte-identical files.
build_result build_llama_model(const llama_config& config, weight_source& weights, const std::string& out_dir,
                               const build_options& options = {});

// The byte tokenizer description that presets ship as tokenizer.json.
std::string byte_tokenizer_json();

}  // namespace tessera::model
