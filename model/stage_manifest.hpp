// OUT/manifest.json of a split model (format in RULES.md "Shared contracts"):
// {"model": {"name", "hash", "num_layers", "config": {...config.json...}},
//  "head": "greedy",
//  "stages": [{"file", "data_file", "layers": [a, b], "id", "bytes",
//              "inputs": [{"name", "dtype", "shape": [1, "past_sequence", ...]}],
//              "outputs": [...]}]}   in pipeline order.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/graph_cutter.hpp"

namespace tessera::model {

struct stage_manifest {
  std::string model_name;
  std::string model_hash;
  int num_layers = 0;
  nlohmann::json config = nlohmann::json::object();  // the model's config.json ({} if none)
  token_head head = token_head::greedy;
  std::vector<stage_info> stages;
};

nlohmann::json to_json(const stage_manifest& manifest);
// Throws model_error naming `where` and the bad field.
stage_manifest parse_stage_manifest(const nlohmann::json& j, const std::string& where);
// Reads DIR/manifest.json (or the given file).
stage_manifest load_stage_manifest(const std::string& dir_or_file);
void write_stage_manifest(const stage_manifest& manifest, const std::string& path);

}  // namespace tessera::model
