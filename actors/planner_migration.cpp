// Background migration of the planner actor (see planner_actor.cpp's header
// comment and actors/README.md): a better plan loads on idle workers while the
// current one serves; requests park at a token boundary when serving workers
// must switch shards; then the plan is committed and everyone is told.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "actors/planner_state.hpp"

namespace tessera::actors::planner_detail {


const char* to_string(migration_phase p) {
  switch (p) {
    case migration_phase::none: return "none";
    case migration_phase::loading: return "loading";
    case migration_phase::parking: return "parking";
    case migration_phase::switching: return "switching";
  }
  return "?";
}


// What moved from `before` to `after`, for the worker pages.
plan_news make_news(const planner_state& st, uint32_t version, const std::string& why,
                    const std::vector<stage_slot>& before, const std::vector<stage_slot>& after) {
  plan_news n;
  n.plan_version = version;
  n.why = why;
  for (auto& s : after) {
    stage_news sn;
    sn.worker_id = s.worker_id;
    auto it = st.workers.find(s.worker_id);
    sn.worker_name = it == st.workers.end() ? "" : it->second.info.name;
    sn.layer_begin = static_cast<uint32_t>(s.shard.layer_begin);
    sn.layer_end = static_cast<uint32_t>(s.shard.layer_end);
    for (auto& b : before)
      if (b.worker_id == s.worker_id) {
        sn.had_previous = true;
        sn.previous_begin = static_cast<uint32_t>(b.shard.layer_begin);
        sn.previous_end = static_cast<uint32_t>(b.shard.layer_end);
      }
    n.stages.push_back(sn);
  }
  for (auto& b : before)
    if (std::none_of(after.begin(), after.end(), [&](auto& s) { return s.worker_id == b.worker_id; }))
      n.dropped.push_back(b.worker_id);
  return n;
}

// Drops a migration. While loading, the serving plan is untouched. While
// parking, parked requests go on with the serving plan if its workers are all
// still here. While switching, workers of the serving route have been told to
// switch, so the serving plan is no longer intact: it is forgotten, and the
// next re-plan (at once) assigns every stage again.
void abort_migration(planner_actor* self, const std::string& why) {
  auto& st = self->state;
  if (st.next.phase == migration_phase::none)
    return;
  note_history(st, "v" + std::to_string(st.next.version) + " abandoned: " + why);
  bool broke_current = st.next.phase == migration_phase::switching;
  bool parked = st.next.phase != migration_phase::loading;
  st.next = {};
  if (broke_current) {
    st.current = {};
    st.slots.clear();
    set_unready(self, "re-planning: " + why);
    schedule_replan(self, 0);
  } else if (parked && !st.slots.empty() && stages_present(st, st.slots)) {
    start_serving(self, false);  // parked requests go on with the old plan
  }
}

// The new plan is loaded everywhere: it becomes the serving plan.
void commit_migration(planner_actor* self) {
  auto& st = self->state;
  auto m = std::move(st.next);
  st.next = {};
  st.news = make_news(st, m.version, m.why, st.served_slots, m.slots);
  st.version = m.version;
  st.current = m.plan;
  st.last_plan = placed(m.slots);
  st.slots = std::move(m.slots);
  auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - m.started).count();
  note_history(st, "v" + std::to_string(st.version) + " serving after a background migration of " +
                       std::to_string(static_cast<int>(ms)) + " ms");
  start_serving(self);
  if (st.replan_after_switch) {
    st.replan_after_switch = false;
    schedule_replan(self, 0);
  }
}

// Switching phase: the parked (or timed-out) requests no longer step on the
// workers that change shards; tell those workers.
void switch_deferred(planner_actor* self) {
  auto& st = self->state;
  st.next.phase = migration_phase::switching;
  st.next.waiting.clear();
  for (auto& s : st.next.slots)
    if (s.deferred)
      send_assign(self, s, st.next.version);
  check_migration(self);
}

void check_migration(planner_actor* self) {
  auto& st = self->state;
  auto& m = st.next;
  if (m.phase == migration_phase::none)
    return;
  bool all_loaded = true, any_deferred = false;
  for (auto& s : m.slots) {
    all_loaded = all_loaded && s.loaded;
    any_deferred = any_deferred || s.deferred;
  }
  if (m.phase == migration_phase::loading) {
    bool free_loaded = std::all_of(m.slots.begin(), m.slots.end(), [](auto& s) { return s.loaded || s.deferred; });
    if (!free_loaded)
      return publish(self);
    if (!any_deferred)
      return commit_migration(self);
    // Workers of the serving route must switch: stop requests at a token boundary first.
    m.phase = migration_phase::parking;
    set_unready(self, "switching to plan v" + std::to_string(m.version));
    for (auto& sub : st.subscribers) {
      m.waiting.push_back(sub.address());
      self->send(sub, plan_pause{m.version, m.why});
    }
    spdlog::info("planner: v{} loaded on idle workers; parking {} requests", m.version, m.waiting.size());
    if (m.waiting.empty())
      return switch_deferred(self);
    self->delayed_send(self, std::chrono::milliseconds(st.cfg.park_timeout_ms), park_deadline_atom::value, m.version);
    return publish(self);
  }
  if (m.phase == migration_phase::switching && all_loaded)
    return commit_migration(self);
  publish(self);
}

// Starts bringing up the decided plan (`slots`: its stages with their shards)
// while the current plan serves.
void start_migration(planner_actor* self, const planner::decision& d, std::vector<stage_slot> slots) {
  auto& st = self->state;
  migration m;
  m.phase = migration_phase::loading;
  m.version = ++st.versions;
  metrics().replanned();
  m.plan = d.chosen;
  m.why = d.why;
  m.started = clock_type::now();
  std::string line = "v" + std::to_string(m.version) + " (" + d.why + "): migrating in the background while v" +
                     std::to_string(st.version) + " serves:";
  for (auto& slot : slots) {
    auto serving = std::find_if(st.slots.begin(), st.slots.end(), [&](auto& s) { return s.worker_id == slot.worker_id; });
    if (serving != st.slots.end() && serving->shard.id == slot.shard.id)
      slot.loaded = serving->loaded;  // unchanged stage: keeps its KV
    else
      slot.deferred = serving != st.slots.end();  // busy serving: switch after parking
    line += " " + range_text(slot) + (slot.loaded ? " (kept)" : slot.deferred ? " (after parking)" : " (loading now)");
  }
  m.slots = std::move(slots);
  st.next = std::move(m);
  note_history(st, line);
  for (auto& s : st.next.slots)
    if (!s.loaded && !s.deferred)
      send_assign(self, s, st.next.version);
  check_migration(self);
}

void on_parked(planner_actor* self, const caf::actor_addr& who, uint32_t version) {
  auto& m = self->state.next;
  if (m.phase != migration_phase::parking || version != m.version)
    return;
  m.waiting.erase(std::remove(m.waiting.begin(), m.waiting.end(), who), m.waiting.end());
  if (m.waiting.empty())
    switch_deferred(self);
  else
    publish(self);
}

}  // namespace tessera::actors::planner_detail
