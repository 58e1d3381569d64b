// The worker pool of `tessera plan`, from workers.json. Errors name the file,
// the worker and the field. (The model side is model_stats, read by
// model/base/model_stats.hpp.)
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "planner/planner.hpp"

namespace tessera::app {

// A workers.json problem: the message names the source, worker and field.
struct workers_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses workers.json text: {"workers": [{"id", "memory_bytes", "flops_per_s" | "measured_layer_ms",
// "rtt_ms", "bandwidth_bytes_per_s" | "upload_bytes_per_s" + "download_bytes_per_s",
// optional "cached_layers": [[a, b], ...], "cached_shards": [...], "device": "phone" ...}]}.
// `source` names the file in errors. Throws workers_file_error.
std::vector<planner::worker_profile> parse_workers_json(const std::string& text, const std::string& source);

// Checks cached layer ranges against the model's layer count.
void check_workers_against_model(const std::vector<planner::worker_profile>& workers, int num_layers,
                                 const std::string& source);

}  // namespace tessera::app
