// Stage shards for a plan: cuts the model with the cutter (model/graph_cutter)
// into shard_dir/<model>/<ranges>/, reusing an existing cut with the same ranges
// (content ids are stable for the same model, range and head), and registers the
// files so the gateway serves them under /shards/<id>/<name>. Blocking file I/O:
// call it from a detached actor or a plain thread. No CAF here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/status_board.hpp"

namespace tessera::actors {

struct shard_file_info {
  std::string name;
  std::string url;
  std::string sha256;
  uint64_t bytes = 0;
};

struct stage_shard {
  std::string id;
  int layer_begin = 0, layer_end = 0;
  std::string head;                   // "" or "sample" (last stage)
  std::vector<shard_file_info> files;  // files[0]: the .onnx graph
};

// ranges: [begin, end) per stage in pipeline order, covering [0, num_layers).
// Throws model::model_error / std::runtime_error naming the problem.
std::vector<stage_shard> make_stage_shards(const std::string& model_dir, const std::string& shard_dir,
                                           const std::vector<std::pair<int, int>>& ranges,
                                           shard_registry& registry);

}  // namespace tessera::actors
