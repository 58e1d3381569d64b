// The planner actor: worker inventory + current plan. On every join and leave
// (after a short settle time) it asks planner::decide() what to do, has the
// shard maker cut the stage shards (a detached actor: the planner keeps
// answering routes while a cut runs), assigns them, and serves routes once
// every stage reported Loaded. State (actors/planner_state.hpp), then behaviour.
//
// Two ways to a new plan:
// - at once (assign_now), when the serving plan is broken (a worker of it
//   left) or there is none: every stage gets its Assign and routes are served
//   when all loaded;
// - in the background (migrate), when the serving plan still works and a
//   better one was found (a join): idle workers load their new stages while the
//   old plan keeps serving; then, if workers of the old route must switch
//   shards, requests are asked to park at their next token boundary
//   (plan_pause -> plan_parked), those workers load, and the new plan is
//   committed (plan_changed to requests, plan_news to every worker); that
//   part lives in planner_migration.cpp.
#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/backend_tolerance.hpp"
#include "actors/metrics.hpp"
#include "actors/planner_state.hpp"
#include "actors/prefix_index.hpp"
#include "model/graph/graph_inspector.hpp"

namespace tessera::actors {

namespace planner_detail {

std::vector<stage_view> stage_views(const planner_state& st, const std::vector<stage_slot>& slots) {
  std::vector<stage_view> out;
  for (auto& s : slots) {
    auto it = st.workers.find(s.worker_id);
    out.push_back({s.worker_id, it == st.workers.end() ? "" : it->second.info.name, s.shard.layer_begin,
                   s.shard.layer_end, s.shard.id, s.loaded, s.deferred});
  }
  return out;
}

void publish(planner_actor* self) {
  auto& st = self->state;
  planner_view v;
  v.ready = st.ready;
  v.reason = st.reason;
  v.plan_version = st.version;
  v.model_name = st.model_name;
  v.num_layers = st.model.num_layers();
  auto pool = pool_of(st);
  for (auto& [id, w] : st.workers) {
    worker_view wv;
    wv.id = id;
    wv.name = w.info.name;
    wv.device = w.info.device_kind;
    wv.memory_bytes = w.info.memory_bytes;
    wv.flops_per_s = w.info.flops_per_s;
    wv.measured_flops_per_s = measured_flops(st, w);
    for (auto& p : pool)
      if (p.id == id)
        wv.planned_flops_per_s = p.profile.flops_per_s;
    wv.link = link_of(st, w);
    wv.link_measured = w.kv.link_measured;
    wv.compute_ms_per_position = w.kv.compute_ms_per_position;
    wv.threads = w.info.threads;
    wv.kv_sequences = w.kv.sequences;
    wv.kv_tokens = w.kv.tokens;
    wv.worker_kv_sequences = w.kv.worker_sequences;
    wv.cache = {w.kv.kv_bytes, w.kv.kv_budget, w.kv.cached_sequences, w.kv.cached_bytes, w.kv.evictions};
    for (auto& s : st.slots)
      if (s.worker_id == id) {
        wv.layers = std::make_pair(s.shard.layer_begin, s.shard.layer_end);
        wv.shard = s.shard.id;
        wv.loaded = s.loaded;
      } else if (!wv.standby_for && !w.shard.empty() && w.shard == s.shard.id) {
        wv.standby_for = std::make_pair(s.shard.layer_begin, s.shard.layer_end);
        wv.loaded = w.loaded_shard == w.shard;
      }
    v.workers.push_back(std::move(wv));
  }
  v.plan = st.current;
  v.predicted_now_ms_per_token = predicted_now_ms(st, pool);
  v.replans = st.history;
  v.link = st.link;
  metrics().workers(st.workers.size());
  if (st.next.phase != migration_phase::none)
    v.migration = migration_view{st.next.version, to_string(st.next.phase), st.next.why,
                                 stage_views(st, st.next.slots), st.next.waiting.size()};
  st.board->set_planner(std::move(v));
}

void note_history(planner_state& st, std::string line) {
  spdlog::info("plan {}", line);
  metrics().plan_event(line);
  st.history.push_back(std::move(line));
  if (st.history.size() > 20)
    st.history.erase(st.history.begin());
}

// Schedules a re-plan in delay_ms unless one is due sooner (an earlier timer
// supersedes a later one; the later one then re-plans again, which is a no-op).
void schedule_replan(planner_actor* self, uint32_t delay_ms) {
  auto& st = self->state;
  auto due = clock_type::now() + std::chrono::milliseconds(delay_ms);
  if (st.replan_scheduled && st.replan_due <= due)
    return;
  st.replan_scheduled = true;
  st.replan_due = due;
  self->delayed_send(self, std::chrono::milliseconds(delay_ms), replan_atom::value);
}

bool stages_present(const planner_state& st, const std::vector<stage_slot>& slots) {
  return std::all_of(slots.begin(), slots.end(), [&](auto& s) { return st.workers.count(s.worker_id) > 0; });
}

route current_route(planner_actor* self) {
  auto& st = self->state;
  route r;
  r.plan_version = st.version;
  r.epoch = pool_epoch(st);
  for (auto& s : st.slots) {
    auto it = st.workers.find(s.worker_id);
    if (it == st.workers.end())
      return {};
    r.hops.push_back({it->second.handle, s.worker_id, s.shard.id, static_cast<uint32_t>(s.shard.layer_begin),
                      static_cast<uint32_t>(s.shard.layer_end), it->second.load_epoch, it->second.info.name,
                      backend_of(it->second.info.device_kind)});
  }
  // Standbys holding a serving stage's shard can re-run its steps (spot checks).
  for (auto& [id, w] : st.workers) {
    bool serving = std::any_of(st.slots.begin(), st.slots.end(), [&](auto& s) { return s.worker_id == id; });
    for (auto& h : r.hops)
      if (!serving && !w.shard.empty() && w.shard == h.shard_id && w.loaded_shard == w.shard)
        r.verifiers.push_back({w.handle, id, h.shard_id, h.layer_begin, h.layer_end, w.load_epoch, w.info.name,
                               backend_of(w.info.device_kind)});
  }
  return r;
}

void set_unready(planner_actor* self, std::string reason) {
  auto& st = self->state;
  if (st.ready || st.reason != reason)
    spdlog::info("planner not ready: {}", reason);
  st.ready = false;
  st.reason = std::move(reason);
}

void send_assign(planner_actor* self, stage_slot& slot, uint32_t version, bool standby) {
  // A worker that left since the plan was made is not re-created as an empty
  // entry (it would join the pool with no handle); its down_msg re-plans.
  auto it = self->state.workers.find(slot.worker_id);
  if (it == self->state.workers.end()) {
    spdlog::warn("planner: no assign for worker={}: it has left", slot.worker_id);
    return;
  }
  auto& w = it->second;
  if (w.shard != slot.shard.id) {
    w.shard = slot.shard.id;
    ++w.load_epoch;
  }
  slot.deferred = false;
  auto a = to_assign(slot.shard, version, standby);
  uint64_t files = 0;
  for (const auto& f : a.files)
    files += f.bytes;
  a.kv_budget = stage_kv_budget(w.info.memory_bytes, files, self->state.cfg.scratch_bytes,
                                self->state.cfg.cache_kv_budget_bytes);
  if (!pool_stamp(self->state, a, slot.worker_id))
    return;
  self->send(w.handle, std::move(a));
}

// `current` is loaded everywhere: serve it, tell requests (and workers, when
// it is a new plan rather than the old one resuming after an abandoned switch).
void start_serving(planner_actor* self, bool tell_workers) {
  auto& st = self->state;
  st.ready = true;
  st.reason.clear();
  st.served_slots = st.slots;
  spdlog::info("planner: plan v{} serving ({} stages)", st.version, st.slots.size());
  publish(self);  // before anyone hears of it, so /api/status agrees
  auto r = current_route(self);
  for (auto& sub : st.subscribers)
    self->send(sub, plan_changed{r, st.news.why});
  st.news.epoch = r.epoch;
  if (tell_workers)
    for (auto& [id, w] : st.workers)
      self->send(w.handle, st.news);
  assign_standbys(self);
}

std::string range_text(const stage_slot& s) {
  return "worker " + std::to_string(s.worker_id) + " [" + std::to_string(s.shard.layer_begin) + "," +
         std::to_string(s.shard.layer_end) + ")";
}

// The decision's stages with the shards cut for them (same order).
std::vector<stage_slot> slots_for(const planner::decision& d, const std::vector<stage_shard>& made) {
  std::vector<stage_slot> slots;
  for (size_t i = 0; i < d.stages.size(); ++i) {
    stage_slot slot;
    slot.worker_id = d.stages[i].worker;
    slot.shard = made[i];
    slots.push_back(std::move(slot));
  }
  return slots;
}

// Assigns the decided plan at once (the serving plan is broken or there is none).
void assign_now(planner_actor* self, const planner::decision& d, std::vector<stage_slot> slots) {
  auto& st = self->state;
  st.version = ++st.versions;
  metrics().replanned();
  st.current = d.chosen;
  st.last_plan = d.stages;
  st.slots = std::move(slots);
  std::string line = "v" + std::to_string(st.version) + " (" + d.why + "):";
  for (auto& slot : st.slots) {
    send_assign(self, slot, st.version);
    line += " " + range_text(slot);
  }
  st.news = make_news(st, st.version, d.why, st.served_slots, st.slots);
  note_history(st, line + fmt::format(" predicted_ms_per_token={:.2f}", d.chosen.predicted_ms_per_token));
  set_unready(self, "loading stage shards for plan v" + std::to_string(st.version));
}

// The cuts that serve, load or stand by (the shard maker keeps them).
std::vector<std::string> cuts_in_use(const planner_state& st) {
  std::vector<std::string> keep;
  for (auto* slots : {&st.slots, &st.next.slots, &st.served_slots})
    for (auto& s : *slots)
      if (std::find(keep.begin(), keep.end(), s.shard.cut) == keep.end())
        keep.push_back(s.shard.cut);
  return keep;
}

void on_shards(planner_actor* self, uint32_t ticket, shards_ready& ready);

// Asks the shard maker for the decided plan's shards; the decision is carried
// out when they arrive (on_shards) unless a later decision replaced it.
void request_cut(planner_actor* self, planner::decision d) {
  auto& st = self->state;
  if (st.cutting && st.cutting->decided.kind == d.kind && st.cutting->decided.stages == d.stages) {
    st.cutting->pool_epoch = st.pool_epoch;  // still the right plan for this pool
    return;
  }
  cut_shards cut;
  cut.bounds.push_back(0);
  for (auto& s : d.stages)
    cut.bounds.push_back(static_cast<uint32_t>(s.layers.end));
  cut.keep = cuts_in_use(st);
  auto ticket = ++st.cut_tickets;
  st.cutting = pending_cut{ticket, std::move(d), st.pool_epoch};
  if (!st.ready)
    set_unready(self, "cutting the stage shards of the next plan");
  self->request(st.maker, caf::infinite, std::move(cut))
      .then([=](shards_ready& r) { on_shards(self, ticket, r); },
            [=](caf::error& e) {
              shards_ready failed;
              failed.error = self->system().render(e);
              on_shards(self, ticket, failed);
            });
}

void on_shards(planner_actor* self, uint32_t ticket, shards_ready& ready) {
  auto& st = self->state;
  if (!st.cutting || st.cutting->ticket != ticket)
    return;  // a later decision replaced this one
  auto pending = std::move(*st.cutting);
  st.cutting.reset();
  if (!ready.error.empty()) {
    set_unready(self, "cutting the stage shards failed: " + ready.error);
    spdlog::error("planner: {}", st.reason);
    return publish(self);
  }
  if (pending.pool_epoch != st.pool_epoch)
    return publish(self);  // the pool changed while cutting: its scheduled re-plan decides again
  std::vector<stage_shard> made;
  for (auto& a : ready.stages)
    made.push_back(to_stage_shard(a, ready.cut));
  auto slots = slots_for(pending.decided, made);
  if (pending.decided.kind == planner::decision_kind::migrate)
    start_migration(self, pending.decided, std::move(slots));
  else
    assign_now(self, pending.decided, std::move(slots));
  publish(self);
}

void replan(planner_actor* self) {
  auto& st = self->state;
  st.replan_scheduled = false;
  if (!st.model_ok)
    return publish(self);
  if (st.next.phase == migration_phase::parking || st.next.phase == migration_phase::switching) {
    st.replan_after_switch = true;  // requests are parked: finish the switch first
    return publish(self);
  }
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - st.started).count();
  auto expected = st.cfg.local_workers.size();
  if (!st.workers.empty() && st.workers.size() < expected && waited < st.cfg.first_plan_wait_ms &&
      st.slots.empty()) {
    set_unready(self, "waiting for workers (" + std::to_string(st.workers.size()) + " of " +
                          std::to_string(expected) + " joined)");
    schedule_replan(self, static_cast<uint32_t>(st.cfg.first_plan_wait_ms - waited));
    return publish(self);
  }
  auto d = planner::decide(st.model, pool_of(st), serving_of(st), st.dopts);
  rebase_drift(st);
  if (!d.abandon.empty())
    abort_migration(self, d.abandon);
  switch (d.kind) {
    case planner::decision_kind::keep:
      st.cutting.reset();
      assign_standbys(self);  // nothing moves; a worker that joined may stand by
      break;
    case planner::decision_kind::infeasible:
      st.cutting.reset();
      st.current = {};
      st.slots.clear();
      set_unready(self, d.why);
      break;
    case planner::decision_kind::assign_now:
    case planner::decision_kind::migrate:
      request_cut(self, std::move(d));
      break;
  }
  publish(self);
}

void on_loaded(planner_actor* self, const shard_loaded& l) {
  auto& st = self->state;
  if (auto w = st.workers.find(l.worker_id); w != st.workers.end() && w->second.shard == l.shard_id)
    w->second.loaded_shard = l.ok ? l.shard_id : std::string();
  for (auto& s : st.next.slots)
    if (s.worker_id == l.worker_id && s.shard.id == l.shard_id && !s.deferred) {
      if (!l.ok)
        return abort_migration(self, "worker " + std::to_string(l.worker_id) + " could not load shard " +
                                         l.shard_id + ": " + l.error);
      s.loaded = true;
    }
  bool all = !st.slots.empty();
  for (auto& s : st.slots) {
    if (s.worker_id == l.worker_id && s.shard.id == l.shard_id) {
      if (!l.ok) {
        set_unready(self, "worker " + std::to_string(l.worker_id) + " could not load shard " + l.shard_id + ": " +
                              l.error);
        return;
      }
      s.loaded = true;
    }
    all = all && s.loaded;
  }
  spdlog::info("worker={} loaded shard={} download_ms={:.0f} load_ms={:.0f}", l.worker_id, l.shard_id,
               l.download_ms, l.load_ms);
  // A stage whose worker left keeps its `loaded` until the re-plan replaces
  // the plan: a Loaded from another worker (a standby, an abandoned
  // migration's stage) must not serve that broken plan again.
  if (all && !st.ready && st.next.phase == migration_phase::none && stages_present(st, st.slots))
    start_serving(self);
  if (st.next.phase == migration_phase::none)
    publish(self);
  else
    check_migration(self);
}

}  // namespace planner_detail

namespace {

using namespace planner_detail;

planner_hdl::behavior_type planner_behavior(planner_actor* self, node_config cfg, std::shared_ptr<status_board> board,
                                            std::shared_ptr<shard_registry> shards, shard_maker_hdl maker,
                                            std::shared_ptr<pool_context> pool) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.cfg = std::move(cfg);
  st.board = std::move(board);
  st.maker = maker ? maker
                   : self->spawn<caf::linked + caf::detached>(shard_maker, st.cfg.model_dir, st.cfg.shard_dir,
                                                              st.cfg.shard_budget_bytes, std::move(shards));
  st.dopts.plan.goal = st.cfg.objective == "throughput" ? planner::objective::throughput : planner::objective::latency;
  st.dopts.plan.context_tokens = st.cfg.context;
  st.dopts.plan.concurrent_sequences = st.cfg.concurrent_sequences;
  st.dopts.plan.scratch_bytes = st.cfg.scratch_bytes;
  st.dopts.plan.stability_margin = st.cfg.stability_margin;
  st.dopts.background_migration = st.cfg.migration == "background";
  st.link = {st.cfg.link_rtt_ms, st.cfg.link_bytes_per_s};
  st.drift.emplace(st.cfg.replan_change, st.cfg.replan_change_polls);
  try {
    auto stats = model::inspect_model(st.cfg.model_dir);
    st.model = to_model_profile(stats);
    st.model_name = stats.name;
    st.model_ok = true;
    st.reason = "waiting for workers";
    spdlog::info("planner model={} layers={} dir={}", stats.name, stats.num_layers, st.cfg.model_dir);
  } catch (const std::exception& e) {
    st.reason = std::string("model cannot be inspected: ") + e.what();
    spdlog::error("planner: {}", st.reason);
  }
  publish(self);
  schedule_replan(self, st.cfg.settle_ms);
  self->delayed_send(self, std::chrono::seconds(1), kv_poll_atom::value);
  self->set_down_handler([=](caf::down_msg& d) {
    auto& st = self->state;
    for (auto it = st.workers.begin(); it != st.workers.end(); ++it) {
      if (it->second.handle.address() != d.source)
        continue;
      auto id = it->first;
      spdlog::info("planner: worker={} left reason={}", id, self->system().render(d.reason));
      metrics().worker_left(id, self->system().render(d.reason));
      st.last_change = "worker " + std::to_string(id) + " left";
      if (auto why = error_context(d.reason, errc::evicted))  // named in /api/status replans
        st.last_change = *why;
      st.workers.erase(it);
      ++st.pool_epoch;
      auto uses = [&](const std::vector<stage_slot>& slots) {
        return std::any_of(slots.begin(), slots.end(), [&](auto& s) { return s.worker_id == id; });
      };
      if (uses(st.next.slots) || (st.next.phase != migration_phase::none && uses(st.slots)))
        abort_migration(self, "worker " + std::to_string(id) + " left");
      bool broken = uses(st.slots);
      if (broken)
        set_unready(self, "worker " + std::to_string(id) + " left; re-planning");
      // A serving stage is gone: requests are stalled, so re-plan now (the lost
      // range usually goes to an idle worker in place); other changes settle.
      schedule_replan(self, broken ? 0 : st.cfg.settle_ms);
      publish(self);
      return;
    }
    auto& subs = st.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(), [&](auto& a) { return a.address() == d.source; }),
               subs.end());
    on_parked(self, d.source, st.next.version);  // a request that ended is not waited for
  });
  return {
      [=](worker_joined& j) {
        auto& st = self->state;
        pool_check_join(st, j);
        self->monitor(j.worker);
        metrics().worker_joined(j.info.worker_id, j.info.name);
        auto& w = st.workers[j.info.worker_id];
        w.handle = j.worker;
        w.info = j.info;
        ++st.pool_epoch;
        if (!st.slots.empty() || st.version > 0)
          st.last_change = "worker " + std::to_string(j.info.worker_id) + " (" + j.info.name + ") joined";
        schedule_replan(self, st.cfg.settle_ms);
        publish(self);
      },
      [=](shard_loaded& l) { on_loaded(self, l); },
      [=](plan_parked& p) { on_parked(self, p.who.address(), p.plan_version); },
      [=](replan_atom) { replan(self); },
      [=](park_deadline_atom, uint32_t version) {  // parking took too long: switch anyway
        auto& m = self->state.next;
        if (m.phase == migration_phase::parking && m.version == version) {
          spdlog::warn("planner: {} requests did not park within {} ms; switching to v{} anyway", m.waiting.size(),
                       self->state.cfg.park_timeout_ms, version);
          switch_deferred(self);
        }
      },
      [=](kv_poll_atom) {  // from ourselves, every second: poll the KV ledgers
        check_drift(self);  // on the last poll's answers
        for (auto& [id, w] : self->state.workers) {
          auto wid = id;
          self->request(w.handle, std::chrono::seconds(1), kv_query_atom::value)
              .then(
                  [=](kv_summary& s) {
                    auto it = self->state.workers.find(wid);
                    if (it != self->state.workers.end())
                      it->second.kv = s;
                  },
                  [](caf::error&) {});
        }
        publish(self);
        self->delayed_send(self, std::chrono::seconds(1), kv_poll_atom::value);
      },
      [=](get_route_atom) -> route_reply {
        auto& st = self->state;
        if (!st.ready)
          return {false, {}, st.reason};
        return {true, current_route(self), ""};
      },
      [=](subscribe_atom, request_hdl& who) {
        self->monitor(who);
        self->state.subscribers.push_back(who);
      },
      [=](pool_status_atom) { return pool_status_json(self->state); },
  };
}

}  // namespace

planner_hdl spawn_planner_actor(caf::actor_system& sys, node_config cfg, std::shared_ptr<status_board> board,
                                std::shared_ptr<shard_registry> shards, shard_maker_hdl maker,
                                std::shared_ptr<pool_context> pool) {
  return sys.spawn(planner_behavior, std::move(cfg), std::move(board), std::move(shards), std::move(maker),
                   std::move(pool));
}

}  // namespace tessera::actors
