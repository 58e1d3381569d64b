#include "actors/plan_view.hpp"

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"

namespace tessera::actors {

planner::worker_profile to_worker_profile(const worker_info& info, const link_assumption& link) {
  planner::worker_profile w;
  w.id = std::to_string(info.worker_id);
  w.memory_bytes = info.memory_bytes;
  w.flops_per_s = info.flops_per_s > 0 ? info.flops_per_s : 1e9;
  w.rtt_ms = link.rtt_ms;
  w.upload_bytes_per_s = link.bytes_per_s;
  w.download_bytes_per_s = link.bytes_per_s;
  w.cached_shards = info.cached_shards;
  if (info.device_kind == "node-cpu")
    w.kind = planner::device_kind::server_cpu;
  else if (info.device_kind == "wasm" || info.device_kind == "webgpu")
    w.kind = planner::device_kind::browser;
  return w;
}

namespace {

nlohmann::json plan_json(const planner::plan& p) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : p.stages)
    stages.push_back({{"worker", s.worker_id},
                      {"layers", {s.layers.begin, s.layers.end}},
                      {"memory_bytes", s.memory_bytes},
                      {"memory_budget", s.memory_budget},
                      {"predicted_ms", s.predicted_ms}});
  nlohmann::json j = {{"feasible", p.feasible},
                      {"objective", planner::to_string(p.goal)},
                      {"predicted_ms_per_token", p.predicted_ms_per_token},
                      {"stages", stages}};
  if (!p.reason.empty())
    j["reason"] = p.reason;
  return j;
}

nlohmann::json worker_json(const worker_view& w, const prefix_cache_view* cache) {
  nlohmann::json j = {{"id", w.id},
                      {"name", w.name},
                      {"device", w.device},
                      {"memory_bytes", w.memory_bytes},
                      {"flops_per_s", w.flops_per_s},
                      {"measured_flops_per_s", w.measured_flops_per_s},
                      {"planned_flops_per_s", w.planned_flops_per_s},
                      {"link", {{"rtt_ms", w.link.rtt_ms}, {"bytes_per_s", w.link.bytes_per_s}, {"measured", w.link_measured}}},
                      {"compute_ms_per_position", w.compute_ms_per_position},
                      {"threads", w.threads},
                      {"kv_sequences", w.kv_sequences},
                      {"kv_tokens", w.kv_tokens}};
  if (w.worker_kv_sequences >= 0)
    j["worker_kv_sequences"] = w.worker_kv_sequences;
  j["cache"] = worker_cache_json(w.id, w.cache, cache);
  if (w.layers) {
    j["layers"] = {w.layers->first, w.layers->second};
    j["shard"] = w.shard;
    j["loaded"] = w.loaded;
  } else if (w.standby_for) {
    j["standby_for"] = {w.standby_for->first, w.standby_for->second};
    j["loaded"] = w.loaded;
  }
  return j;
}

}  // namespace

std::string render_status(const planner_view& view, const node_status* node) {
  nlohmann::json workers = nlohmann::json::array();
  const prefix_cache_view* cache = node && node->cache ? &*node->cache : nullptr;
  for (const auto& w : view.workers)
    workers.push_back(worker_json(w, cache));
  auto plan = plan_json(view.plan);
  plan["predicted_now_ms_per_token"] = view.predicted_now_ms_per_token;
  nlohmann::json j = {{"ready", view.ready},
                      {"reason", view.reason},
                      {"plan_version", view.plan_version},
                      {"model", {{"name", view.model_name}, {"num_layers", view.num_layers}}},
                      {"workers", workers},
                      {"plan", plan},
                      {"replans", view.replans},
                     {"link", {{"rtt_ms", view.link.rtt_ms}, {"bytes_per_s", view.link.bytes_per_s}, {"measured", false}}}};
  if (view.migration) {
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& s : view.migration->stages)
      stages.push_back({{"worker", s.worker},
                        {"name", s.name},
                        {"layers", {s.layer_begin, s.layer_end}},
                        {"shard", s.shard},
                        {"loaded", s.loaded},
                        {"deferred", s.deferred}});
    j["migration"] = {{"to_version", view.migration->to_version},
                      {"phase", view.migration->phase},
                      {"why", view.migration->why},
                      {"stages", stages},
                      {"waiting_for_requests", view.migration->waiting_for_requests}};
  }
  if (node) {
    j["listen"] = node->listen;
    j["requests"] = {{"active", node->requests_active},
                     {"done", node->requests_done},
                     {"failed", node->requests_failed},
                     {"tokens_generated", node->tokens_generated}};
    if (node->actors_running)
      j["actors"] = {{"running", *node->actors_running}};
    if (cache)
      j["prefix_cache"] = prefix_cache_json(*cache);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string worker_link_metrics_text(const planner_view& view) {
  metric_samples rtt, bandwidth, compute, flops;
  for (const auto& w : view.workers) {
    const metric_labels labels{{"worker", std::to_string(w.id)}};
    if (w.link_measured) {
      rtt.push_back({labels, w.link.rtt_ms / 1000.0});
      bandwidth.push_back({labels, w.link.bytes_per_s});
    }
    if (w.compute_ms_per_position > 0)
      compute.push_back({labels, w.compute_ms_per_position / 1000.0});
    flops.push_back({labels, w.planned_flops_per_s});
  }
  return render_family("tessera_worker_link_rtt_seconds", "A worker's round trip as the planner uses it (measured).",
                       "gauge", rtt) +
         render_family("tessera_worker_link_bytes_per_second", "A worker's link bandwidth per direction (measured).",
                       "gauge", bandwidth) +
         render_family("tessera_worker_compute_seconds_per_position",
                       "A worker's compute per position over the layers it serves (decode steps, link taken out).",
                       "gauge", compute) +
         render_family("tessera_worker_planned_flops", "The speed the planner plans a worker with (FLOP/s).", "gauge",
                       flops);
}

}  // namespace tessera::actors
