// Stage shards for a plan: cuts the model with the cutter (model/graph_cutter)
// into shard_dir/<model>/<ranges>/ (a "cut"), reusing an existing cut with the
// same ranges (content ids are stable for the same model, range and head), and
// registers the files so the gateway serves them under /shards/<id>/<name>;
// deletes cuts no longer needed (remove_old_cuts). Blocking file I/O: the
// shard maker actor (spawn_shard_maker) calls these. No CAF here.
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
  std::string cut;                    // the cut's directory name under shard_dir/<model>/
  int layer_begin = 0, layer_end = 0;
  std::string head;                   // "" or "sample" (last stage)
  std::vector<shard_file_info> files;  // files[0]: the .onnx graph
};

// ranges: [begin, end) per stage in pipeline order, covering [0, num_layers).
// Throws model::model_error / std::runtime_error naming the problem.
std::vector<stage_shard> make_stage_shards(const std::string& model_dir, const std::string& shard_dir,
                                           const std::vector<std::pair<int, int>>& ranges,
                                           shard_registry& registry);

struct assign_shard;  // actors/messages.hpp

// A stage of cut `cut` from the Assign the shard maker answered with, and back
// (shard_maker_actor.cpp).
stage_shard to_stage_shard(const assign_shard& a, const std::string& cut);
assign_shard to_assign(const stage_shard& s, uint32_t plan_version, bool standby);

// What remove_old_cuts found and did.
struct cut_cleanup {
  size_t kept = 0, deleted = 0;
  uint64_t kept_bytes = 0, freed_bytes = 0;
};

// Deletes cached cuts of the model under shard_dir/<model>/ as
// planner::cuts_to_delete chooses: the cuts named in `in_use` stay, the others
// stay most recently used first while everything kept fits `budget_bytes`.
// Files of deleted cuts leave `registry`. Throws std::filesystem::filesystem_error.
cut_cleanup remove_old_cuts(const std::string& model_dir, const std::string& shard_dir,
                            const std::vector<std::string>& in_use, uint64_t budget_bytes,
                            shard_registry& registry);

}  // namespace tessera::actors
