// Who takes over a lost stage (planner actor, issue 6): idle workers stand by
// with a serving stage's shard loaded ahead (assign_standbys), and a lost
// stage's range goes to the worker already holding its shard, else to the
// smallest idle worker that fits (substitute), so the other stages keep their
// KV.
#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "actors/plan_view.hpp"
#include "actors/planner_state.hpp"

namespace tessera::actors::planner_detail {


// Idle workers stand by for serving stages: each loads the shard of one stage
// (browser-served stages first: tabs vanish most), the smallest idle worker
// that fits it, so that substitute() finds the lost range already loaded.
void assign_standbys(planner_actor* self) {
  auto& st = self->state;
  if (!st.opts.standby || !st.ready || st.next.phase != migration_phase::none)
    return;
  auto serving = [&](uint64_t id) {
    return std::any_of(st.slots.begin(), st.slots.end(), [&](auto& s) { return s.worker_id == id; });
  };
  std::vector<const stage_slot*> order;
  for (auto& s : st.slots)
    order.push_back(&s);
  auto browser = [&](const stage_slot* s) {
    auto& kind = st.workers[s->worker_id].info.device_kind;
    return kind == "wasm" || kind == "webgpu";
  };
  std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) { return browser(a) && !browser(b); });
  planner::cost_model costs(st.model, st.popts);
  std::set<uint64_t> taken;
  for (auto* slot : order) {
    uint64_t pick = 0;
    for (auto& [id, w] : st.workers)
      if (!serving(id) && !taken.count(id) && w.shard == slot->shard.id)
        pick = id;  // already standing by for it
    if (pick == 0) {
      uint64_t best_memory = 0;
      for (auto& [id, w] : st.workers) {
        auto layers = planner::layer_range{slot->shard.layer_begin, slot->shard.layer_end};
        if (serving(id) || taken.count(id) || !costs.fits(to_worker_profile(w.info), layers))
          continue;
        if (pick == 0 || w.info.memory_bytes < best_memory) {
          pick = id;
          best_memory = w.info.memory_bytes;
        }
      }
      if (pick == 0)
        continue;
      stage_slot standby = *slot;
      standby.worker_id = pick;
      send_assign(self, standby, st.version, true);
      spdlog::info("planner: worker={} stands by for layers [{},{}) of worker {}", pick, slot->shard.layer_begin,
                   slot->shard.layer_end, slot->worker_id);
    }
    taken.insert(pick);
  }
}

// Keeps every stage of the last plan whose worker is still here and gives each
// orphaned stage (same layer range) to an idle worker that fits it, so the
// surviving stages keep their KV. nullopt when that is not possible.
std::optional<planner::plan> substitute(planner_state& st, const std::vector<planner::worker_profile>& profiles,
                                        const std::vector<uint64_t>& ids) {
  if (st.last_served.stages.empty())
    return std::nullopt;
  planner::cost_model costs(st.model, st.popts);
  std::vector<planner::assignment> stages;
  std::vector<bool> used(ids.size(), false);
  for (auto& s : st.last_served.stages) {
    auto it = std::find(ids.begin(), ids.end(), std::stoull(s.worker_id));
    int index = it == ids.end() ? -1 : static_cast<int>(it - ids.begin());
    if (index >= 0)
      used[index] = true;
    stages.push_back({index, s.layers});
  }
  for (auto& a : stages) {
    if (a.worker_index >= 0)
      continue;
    // A worker standing by with this range's shard first, else the smallest
    // idle worker that fits: big ones stay free.
    std::string shard;
    for (auto& s : st.served_slots)
      if (s.shard.layer_begin == a.layers.begin && s.shard.layer_end == a.layers.end)
        shard = s.shard.id;
    int best = -1;
    for (size_t i = 0; i < ids.size(); ++i)
      if (!used[i] && !shard.empty() && st.workers[ids[i]].shard == shard && costs.fits(profiles[i], a.layers))
        best = static_cast<int>(i);
    bool standing_by = best >= 0;
    for (size_t i = 0; !standing_by && i < ids.size(); ++i)
      if (!used[i] && costs.fits(profiles[i], a.layers) &&
          (best < 0 || profiles[i].memory_bytes < profiles[best].memory_bytes))
        best = static_cast<int>(i);
    if (best < 0)
      return std::nullopt;
    used[best] = true;
    a.worker_index = best;
  }
  auto p = planner::evaluate(st.model, profiles, stages, st.popts);
  if (!p.feasible)
    return std::nullopt;
  return p;
}

}  // namespace tessera::actors::planner_detail
