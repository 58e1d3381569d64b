// Adapters between the model/worker views of the runtime and planner/'s value
// types, and the planner's part of /api/status: one struct (planner_view) the
// planner actor fills and publishes, rendered to JSON once per request
// (render_status). Pure functions, no CAF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/model_profile.hpp"  // to_model_profile
#include "actors/prefix_cache_view.hpp"
#include "planner/planner.hpp"

namespace tessera::actors {

struct worker_info;

// What the planner assumes of a worker's link until it is measured ([planner] in the config).
struct link_assumption {
  double rtt_ms = 0;
  double bytes_per_s = 0;
};

// A worker's profile for the planner: its link as assumed; flops 0 (benchmark
// skipped) → a modest default. The profile's id is the worker id in decimal.
planner::worker_profile to_worker_profile(const worker_info& info, const link_assumption& link);

// One worker as /api/status shows it.
struct worker_view {
  uint64_t id = 0;
  std::string name, device;
  uint64_t memory_bytes = 0;
  double flops_per_s = 0;           // claimed in Hello
  double measured_flops_per_s = 0;  // shown by timed steps (0: none yet); the planner uses min(claimed, measured)
  double planned_flops_per_s = 0;   // the speed the planner plans with
  link_assumption link;             // the link the planner uses for it
  bool link_measured = false;       // false: `link` is [planner]'s assumption
  double compute_ms_per_position = 0;  // decode steps, link taken out (0: none yet)
  uint32_t threads = 0;
  uint64_t kv_sequences = 0, kv_tokens = 0;
  int64_t worker_kv_sequences = -1;                // -1: the worker does not report it
  worker_cache_counts cache;                       // its prefix cache, as its last Heartbeat said
  std::optional<std::pair<int, int>> layers;       // the stage it serves
  std::string shard;                               // with `layers`
  bool loaded = false;                             // with `layers`
  std::optional<std::pair<int, int>> standby_for;  // the serving stage whose shard it holds
};

// One stage of a migration in flight.
struct stage_view {
  uint64_t worker = 0;
  std::string name;
  int layer_begin = 0, layer_end = 0;
  std::string shard;
  bool loaded = false, deferred = false;
};

struct migration_view {
  uint32_t to_version = 0;
  std::string phase, why;
  std::vector<stage_view> stages;
  size_t waiting_for_requests = 0;
};

// The planner's part of /api/status.
struct planner_view {
  bool ready = false;
  std::string reason = "starting";
  uint32_t plan_version = 0;
  std::string model_name;
  int num_layers = 0;
  std::vector<worker_view> workers;
  planner::plan plan;
  // The serving plan's per-token latency as the cost model predicts it now,
  // from what has been measured of its workers since it was decided (no weight
  // loads); 0 without a plan.
  double predicted_now_ms_per_token = 0;
  std::vector<std::string> replans;
  std::optional<migration_view> migration;
  link_assumption link;  // every worker's link as the planner assumes it (not measured yet)
};

// The node's counters, added to the planner's view in /api/status.
struct node_status {
  std::string listen;  // HOST:PORT
  uint64_t requests_active = 0, requests_done = 0, requests_failed = 0, tokens_generated = 0;
  std::optional<size_t> actors_running;
  std::optional<prefix_cache_view> cache;  // the prefix cache actor's snapshot
};

// /api/status: {"ready", "reason", "plan_version", "model": {name, num_layers}, "workers": [...],
// Each worker has "link": {rtt_ms, bytes_per_s, measured}, "planned_flops_per_s" and
// "compute_ms_per_position" (actors/link_meter.hpp).
// "plan": {"feasible", "objective", "predicted_ms_per_token", "predicted_now_ms_per_token", "reason"?, "stages": [{worker,
// layers: [a, b], memory_bytes, memory_budget, predicted_ms}]}, "replans", "link": {rtt_ms,
// bytes_per_s, measured}, "migration"?} and, with `node`, "listen", "requests" and "actors",
// and with its cache, "prefix_cache" and each worker's "cache" (actors/prefix_cache_view.hpp).
std::string render_status(const planner_view& view, const node_status* node = nullptr);

// /metrics: each worker's measured link and compute, labelled worker="<id>"
// (tessera_worker_link_rtt_seconds, tessera_worker_link_bytes_per_second,
// tessera_worker_compute_seconds_per_position, tessera_worker_planned_flops),
// for the workers present; a worker whose link is not measured yet has no
// link samples.
std::string worker_link_metrics_text(const planner_view& view);

}  // namespace tessera::actors
