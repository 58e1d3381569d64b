// Re-planning on measured change: once a second the planner predicts each
// serving worker's per-token stage time from what was measured of it (compute
// speed, link) and re-plans when one moved beyond [planner] replan_change for
// replan_change_polls polls in a row (actors/stage_drift.hpp). decide() then
// keeps the plan unless a better one clears the stability margin, and a better
// plan arrives through the background migration.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/planner_state.hpp"

namespace tessera::actors::planner_detail {

namespace {

std::map<uint64_t, stage_prediction> serving_predictions(const planner_state& st) {
  std::map<uint64_t, stage_prediction> out;
  if (!st.model_ok || st.model.num_layers() == 0)
    return out;
  planner::cost_model model(st.model, st.dopts.plan);
  for (auto& w : pool_of(st)) {
    for (auto& s : st.slots) {
      if (s.worker_id != w.id)
        continue;
      planner::layer_range r{s.shard.layer_begin, s.shard.layer_end};
      out[w.id] = {r.begin, r.end, model.compute_ms(w.profile, r) + model.link_ms(w.profile, r)};
    }
  }
  return out;
}

}  // namespace

double predicted_now_ms(const planner_state& st, const std::vector<planner::pool_worker>& pool) {
  if (!st.model_ok || st.slots.empty())
    return 0;
  std::vector<planner::worker_profile> profiles;
  std::vector<planner::assignment> stages;
  for (auto& s : st.slots) {
    auto it = std::find_if(pool.begin(), pool.end(), [&](auto& w) { return w.id == s.worker_id; });
    if (it == pool.end())
      return 0;
    stages.push_back({static_cast<int>(profiles.size()), {s.shard.layer_begin, s.shard.layer_end}});
    profiles.push_back(it->profile);
  }
  auto options = st.dopts.plan;
  options.load_horizon_tokens = 0;  // weights already loaded: per-token cost only
  return planner::evaluate(st.model, profiles, stages, options).latency_ms_per_token;
}

void rebase_drift(planner_state& st) {
  if (st.drift)
    st.drift->rebase(serving_predictions(st));
}

void check_drift(planner_actor* self) {
  auto& st = self->state;
  if (!st.drift || !st.ready || st.next.phase != migration_phase::none || st.cutting || st.replan_scheduled)
    return;
  if (auto why = st.drift->observe(serving_predictions(st))) {
    spdlog::info("planner: measured change: {}", *why);
    st.last_change = "measured change: " + *why;
    schedule_replan(self, 0);
  }
}

}  // namespace tessera::actors::planner_detail
