// OUT/manifest.json of a split model: the one description of the format, with
// its writer and reader side by side. The cutter writes it (split_model); the
// workers read it (webworker/core/manifest.mjs validates the same fields).
//
//   {"model"*: {"name", "hash", "num_layers"*, "config": {...the model's config.json...}},
//    "head": "logits" | "greedy" | "sample",
//    "stages"*: [{"file"*, "data_file", "layers"*: [a, b], "id", "bytes",
//                 "inputs"*: [{"name"*, "dtype", "shape": [1, "past_sequence", 64, ...]}],
//                 "outputs"*: [...]}]}          in pipeline order
//
// * = the reader requires it. Defaults when absent: name, hash, data_file, id
// "" ; bytes 0; config {}; head "greedy"; a tensor's dtype "float32", shape [].
// A shape dim is a number or a symbolic name. "hash" is the sha256 of the whole
// model, "id" the content id of one stage (see stage_info in graph_cutter.hpp),
// "bytes" the stage's .onnx + .onnx.data size. The stages' layer ranges must
// cover [0, num_layers) in order, without gap or overlap.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/graph/graph_cutter.hpp"

namespace tessera::model {

struct stage_manifest {
  std::string model_name;
  std::string model_hash;
  int num_layers = 0;
  nlohmann::json config = nlohmann::json::object();  // the model's config.json ({} if none)
  token_head head = token_head::greedy;
  std::vector<stage_info> stages;
};

// Writer: the JSON above, and the file (pretty-printed; throws model_error if it cannot be written).
nlohmann::json to_json(const stage_manifest& manifest);
void write_stage_manifest(const stage_manifest& manifest, const std::string& path);

// Reader: throws model_error naming `where` (the file) and the bad field.
stage_manifest parse_stage_manifest(const nlohmann::json& j, const std::string& where);
// Reads DIR/manifest.json (or the given file).
stage_manifest load_stage_manifest(const std::string& dir_or_file);

}  // namespace tessera::model
