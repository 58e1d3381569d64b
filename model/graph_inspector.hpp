// Inspector: reads a decoder-only ONNX LLM (model.onnx, without loading its
// external weights) and finds its layers and the tensors that cross each layer
// boundary from the graph's structure (producer/consumer analysis), then
// reports the per-layer costs the planner consumes.
//
// Conventions (see RULES.md "Shared contracts"): inputs input_ids,
// attention_mask, position_ids, past_key_values.N.key|value; outputs logits,
// present.N.key|value. Works on Optimum-style graphs (one residual tensor per
// boundary, shared prelude) and onnxruntime-genai-style graphs (two tensors
// cross a boundary). Node names are never needed.
//
// "Per token" numbers are for one new token at batch 1: symbolic dims such as
// batch / sequence_length are taken as 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::model {

struct layer_stats {
  int index = 0;
  uint64_t param_bytes = 0;               // bytes of the initializers only this layer uses
  uint64_t flops_per_token = 0;           // 2*K*N per MatMul/Gemm with a constant weight; context-dependent attention excluded
  uint64_t kv_bytes_per_token = 0;        // present.N.key + present.N.value bytes per cached token
  uint64_t boundary_bytes_per_token = 0;  // bytes/token of the tensors leaving this layer (boundary index+1)
};

// One tensor that crosses a layer boundary (producer before, consumer after).
struct boundary_tensor {
  std::string name;
  std::string dtype;                 // "float32", "float16", "int64", ...
  std::vector<std::string> shape;    // numeric dims as decimal strings, symbolic dims by name
  uint64_t bytes_per_token = 0;
};

struct model_stats {
  std::string name;     // graph name (or the file stem)
  int num_layers = 0;
  std::vector<layer_stats> layers;
  uint64_t embed_param_bytes = 0;    // token embedding (and whatever depends on input_ids before layer 0)
  uint64_t head_param_bytes = 0;     // what follows the last minimum cut: lm_head (the final norm counts in the last layer)
  uint64_t prelude_param_bytes = 0;  // mask / rotary tables, recomputed by every stage
  uint64_t head_flops_per_token = 0;
  uint64_t hidden_bytes_per_token = 0;  // boundary into the first layer
  uint64_t embed_flops_per_token = 0;
  uint64_t total_param_bytes = 0;       // all initializers of the model
  // boundaries[b], b = 0..num_layers: tensors crossing the cut before layer b
  // (b = 0: embedding -> layer 0; b = num_layers: last layer -> head).
  std::vector<std::vector<boundary_tensor>> boundaries;
  std::vector<std::string> warnings;  // e.g. node names that disagree with the structure
};

// Accepts a model directory (uses DIR/model.onnx) or an .onnx file. Throws
// model_error naming the file and the problem: not ONNX, corrupt protobuf, not
// a decoder (no past/present pairs, no logits, layers that cannot be ordered).
model_stats inspect_model(const std::string& onnx_file_or_model_dir);

// JSON text of the stats: {"name", "num_layers", "layers": [{index, param_bytes,
// flops_per_token, kv_bytes_per_token, boundary_bytes_per_token}], "embed":
// {param_bytes, flops_per_token, hidden_bytes_per_token}, "head": {param_bytes,
// flops_per_token}, "prelude": {param_bytes}, "total_param_bytes",
// "boundaries": [[{name, dtype, shape, bytes_per_token}]], "warnings": [...]}.
std::string model_stats_json(const model_stats& stats, int indent = 2);

}  // namespace tessera::model
