// The planner's side of the federation's one pool ([federation] pool = true;
// docs/federation.md): what it hands out is stamped with the epoch it leads
// in (nothing while it does not lead), shard URLs name its own gateway (the
// worker may be connected to another node), and the pool's status with the
// node of every worker and stage goes to the other nodes' /api/status.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/planner_state.hpp"
#include "actors/pool_context.hpp"

namespace tessera::actors::planner_detail {

namespace {

std::string id_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

bool pool_stamp(const planner_state& st, assign_shard& a, uint64_t worker_id) {
  if (!st.pool)
    return true;
  auto epoch = st.pool->leading_epoch();
  if (!epoch) {
    spdlog::warn("planner: node={} does not lead the federation: assign of shard={} to worker={} withheld",
                 st.pool->node_id(), a.shard_id, worker_id);
    return false;
  }
  a.epoch = *epoch;
  auto base = st.pool->gateway();
  for (auto& f : a.files)
    if (!f.url.empty() && f.url[0] == '/')
      f.url = base + f.url;
  return true;
}

uint64_t pool_epoch(const planner_state& st) {
  if (!st.pool)
    return 0;
  return st.pool->leading_epoch().value_or(0);
}

void pool_check_join(const planner_state& st, const worker_joined& j) {
  if (!st.pool || j.info.node.empty() || j.info.node == st.pool->node_id())
    return;
  const uint64_t range = ~((uint64_t{1} << 40) - 1);
  if ((j.info.worker_id & range) == st.pool->id_base())
    spdlog::error("planner: worker={} of node={} has an id in this node's ({}) range: give the nodes federation "
                  "ids whose ranges differ (actors/plan_epoch.hpp)",
                  j.info.worker_id, j.info.node, st.pool->node_id());
}

std::string pool_status_json(const planner_state& st) {
  auto j = nlohmann::json::parse(render_status(st.board->planner()));
  std::map<std::string, std::string> node_of;
  for (auto& [id, w] : st.workers)
    node_of[std::to_string(id)] = w.info.node;
  auto node = [&](const nlohmann::json& id) -> nlohmann::json {
    auto it = node_of.find(id_text(id));
    if (it == node_of.end() || it->second.empty())
      return nullptr;
    return it->second;
  };
  for (auto& w : j["workers"])
    w["node"] = node(w["id"]);
  if (j.contains("plan") && j["plan"].contains("stages"))
    for (auto& s : j["plan"]["stages"])
      s["node"] = node(s["worker"]);
  j["pool_leader"] = st.pool ? st.pool->node_id() : "";
  j["pool_epoch"] = pool_epoch(st);
  return j.dump();
}

}  // namespace tessera::actors::planner_detail
