// What the planner actor hands to planner/decide.hpp: its pool and serving
// plan as pure values (pool_of, serving_of), and the standby workers
// choose_standbys() picks, told to load their stage's shard ahead.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/measured_speed.hpp"
#include "actors/planner_state.hpp"

namespace tessera::actors::planner_detail {

// The compute meter's figure (decode steps, link time taken out) where there
// is one, else the guard's (wall time per position, link included).
double measured_flops(const planner_state& st, const worker_entry& w) {
  if (w.kv.compute_ms_per_position > 0)
    return shown_flops_per_s(st.model, w.kv.compute_begin, w.kv.compute_end, w.kv.compute_ms_per_position);
  return shown_flops_per_s(st.model, w.kv.measured_begin, w.kv.measured_end, w.kv.ms_per_position);
}

link_assumption link_of(const planner_state& st, const worker_entry& w) {
  if (w.kv.link_measured)
    return {w.kv.link_rtt_ms, w.kv.link_bytes_per_s};
  return st.link;
}

std::vector<planner::pool_worker> pool_of(const planner_state& st) {
  std::vector<planner::pool_worker> pool;
  std::vector<speed_claim> speeds;
  for (auto& [id, w] : st.workers) {
    pool.push_back({id, to_worker_profile(w.info, link_of(st, w)), w.shard});
    speeds.push_back({pool.back().profile.flops_per_s, measured_flops(st, w)});
  }
  auto planned = planned_speeds(speeds);
  for (size_t i = 0; i < pool.size(); ++i)
    pool[i].profile.flops_per_s = planned[i];
  return pool;
}

std::vector<planner::placed_stage> placed(const std::vector<stage_slot>& slots) {
  std::vector<planner::placed_stage> out;
  for (auto& s : slots)
    out.push_back({s.worker_id, {s.shard.layer_begin, s.shard.layer_end}, s.shard.id});
  return out;
}

planner::serving_view serving_of(const planner_state& st) {
  planner::serving_view v;
  v.current = placed(st.slots);
  v.ready = st.ready;
  v.last_plan = st.last_plan;
  v.last_served = placed(st.served_slots);
  if (st.next.phase != migration_phase::none)
    v.migrating = placed(st.next.slots);
  v.change = st.last_change;
  return v;
}

// Idle workers stand by for serving stages (planner::choose_standbys), so that
// decide()'s substitution finds a lost range already loaded.
void assign_standbys(planner_actor* self) {
  auto& st = self->state;
  if (!st.cfg.standby || !st.ready || st.next.phase != migration_phase::none)
    return;
  for (auto& pick : planner::choose_standbys(st.model, pool_of(st), placed(st.slots), st.dopts.plan)) {
    if (pick.already_holds)
      continue;
    stage_slot standby = st.slots[pick.stage];
    standby.worker_id = pick.worker;
    send_assign(self, standby, st.version, true);
    spdlog::info("planner: worker={} stands by for layers [{},{}) of worker {}", pick.worker,
                 standby.shard.layer_begin, standby.shard.layer_end, st.slots[pick.stage].worker_id);
  }
}

}  // namespace tessera::actors::planner_detail
