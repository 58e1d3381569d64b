#include "actors/plan_view.hpp"

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"

namespace tessera::actors {

planner::worker_profile to_worker_profile(const worker_info& info) {
  planner::worker_profile w;
  w.id = std::to_string(info.worker_id);
  w.memory_bytes = info.memory_bytes;
  w.flops_per_s = info.flops_per_s > 0 ? info.flops_per_s : 1e9;
  w.rtt_ms = 0.2;
  w.upload_bytes_per_s = 1e9;
  w.download_bytes_per_s = 1e9;
  w.cached_shards = info.cached_shards;
  if (info.device_kind == "node-cpu")
    w.kind = planner::device_kind::server_cpu;
  else if (info.device_kind == "wasm" || info.device_kind == "webgpu")
    w.kind = planner::device_kind::browser;
  return w;
}

std::string plan_json(const planner::plan& p) {
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
  return j.dump();
}

std::string plan_signature(const planner::plan& p) {
  std::string sig;
  for (const auto& s : p.stages)
    sig += s.worker_id + ":" + std::to_string(s.layers.begin) + "-" + std::to_string(s.layers.end) + ";";
  return sig;
}

}  // namespace tessera::actors
