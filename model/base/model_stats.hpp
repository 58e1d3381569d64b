// model_stats: what the inspector (model/graph) measures in a decoder graph,
// and its JSON format (`tessera model inspect --json`), with the writer and
// the reader side by side. No ONNX here: `tessera plan` and the planner read
// stats files without linking the graph library.
//
// JSON (writer order; the reader needs the fields marked *, the others are
// checked when present):
//   {"name", "num_layers",
//    "layers"*: [{"index", "param_bytes"*, "flops_per_token"*, "kv_bytes_per_token"*,
//                 "boundary_bytes_per_token"*}],          non-empty, in layer order
//    "embed"*: {"param_bytes"*, "flops_per_token", "hidden_bytes_per_token"},
//    "head"*: {"param_bytes"*, "flops_per_token"},
//    "prelude": {"param_bytes"*},
//    "total_param_bytes",
//    "boundaries": [[{"name", "dtype", "shape": ["1", "sequence_length", ...], "bytes_per_token"}]],
//    "warnings": ["..."]}
// Byte and FLOP counts are non-negative integers. "Per token" means one new
// token at batch 1.
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

// Writer: the JSON text above.
std::string model_stats_json(const model_stats& stats, int indent = 2);

// Reader: parses text written by model_stats_json (or by hand). num_layers is
// the number of "layers" entries. Throws model_error naming `source` and the
// field, e.g. `s.json: missing "flops_per_token" in layers[0]`.
model_stats parse_model_stats_json(const std::string& text, const std::string& source);

}  // namespace tessera::model
