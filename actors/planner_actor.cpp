// The planner actor: worker inventory + current plan. Re-plans (planner/) on
// every join and leave after a short settle time, cuts and assigns the stage
// shards, and serves routes once every stage reported Loaded. Spawned detached:
// cutting shards is blocking file I/O. State (actors/planner_state.hpp),
// then behaviour.
//
// Two ways to a new plan:
// - at once, when the serving plan is broken (a worker of it left) or there is
//   none: every stage gets its Assign and routes are served when all loaded;
// - in the background (migration), when the serving plan still works and a
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
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/plan_view.hpp"
#include "actors/planner_state.hpp"
#include "model/graph_inspector.hpp"

namespace tessera::actors {

namespace planner_detail {

nlohmann::json slot_json(const planner_state& st, const std::vector<stage_slot>& slots) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& s : slots) {
    auto it = st.workers.find(s.worker_id);
    out.push_back({{"worker", s.worker_id},
                   {"name", it == st.workers.end() ? "" : it->second.info.name},
                   {"layers", {s.shard.layer_begin, s.shard.layer_end}},
                   {"shard", s.shard.id},
                   {"loaded", s.loaded},
                   {"deferred", s.deferred}});
  }
  return out;
}

void publish(planner_actor* self) {
  auto& st = self->state;
  nlohmann::json workers = nlohmann::json::array();
  for (auto& [id, w] : st.workers) {
    nlohmann::json jw = {{"id", id},
                         {"name", w.info.name},
                         {"device", w.info.device_kind},
                         {"memory_bytes", w.info.memory_bytes},
                         {"flops_per_s", w.info.flops_per_s},
                         {"threads", w.info.threads},
                         {"kv_sequences", w.kv.sequences},
                         {"kv_tokens", w.kv.tokens}};
    if (w.kv.worker_sequences >= 0)
      jw["worker_kv_sequences"] = w.kv.worker_sequences;
    for (auto& s : st.slots)
      if (s.worker_id == id) {
        jw["layers"] = {s.shard.layer_begin, s.shard.layer_end};
        jw["shard"] = s.shard.id;
        jw["loaded"] = s.loaded;
      } else if (!jw.contains("layers") && !w.shard.empty() && w.shard == s.shard.id) {
        jw["standby_for"] = {s.shard.layer_begin, s.shard.layer_end};
      }
    workers.push_back(jw);
  }
  nlohmann::json j = {{"ready", st.ready},
                      {"reason", st.reason},
                      {"plan_version", st.version},
                      {"model", {{"name", st.model_name}, {"num_layers", st.model.num_layers()}}},
                      {"workers", workers},
                      {"plan", nlohmann::json::parse(plan_json(st.current))},
                      {"replans", st.history}};
  if (st.next.phase != migration_phase::none)
    j["migration"] = {{"to_version", st.next.version},
                      {"phase", to_string(st.next.phase)},
                      {"why", st.next.why},
                      {"stages", slot_json(st, st.next.slots)},
                      {"waiting_for_requests", st.next.waiting.size()}};
  st.board->set_planner_json(j.dump());
}

void note_history(planner_state& st, std::string line) {
  spdlog::info("plan {}", line);
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

route current_route(planner_actor* self) {
  auto& st = self->state;
  route r;
  r.plan_version = st.version;
  for (auto& s : st.slots) {
    auto it = st.workers.find(s.worker_id);
    if (it == st.workers.end())
      return {};
    r.hops.push_back({it->second.handle, s.worker_id, s.shard.id, static_cast<uint32_t>(s.shard.layer_begin),
                      static_cast<uint32_t>(s.shard.layer_end), it->second.load_epoch});
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
  auto& w = self->state.workers[slot.worker_id];
  if (w.shard != slot.shard.id) {
    w.shard = slot.shard.id;
    ++w.load_epoch;
  }
  assign_shard a{slot.shard.id, static_cast<uint32_t>(slot.shard.layer_begin),
                 static_cast<uint32_t>(slot.shard.layer_end), slot.shard.head, {}, version, standby};
  for (auto& f : slot.shard.files)
    a.files.push_back({f.name, f.url, f.sha256, f.bytes});
  slot.deferred = false;
  self->send(w.handle, a);
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
  if (tell_workers)
    for (auto& [id, w] : st.workers)
      self->send(w.handle, st.news);
  assign_standbys(self);
}

std::string range_text(const stage_slot& s) {
  return "worker " + std::to_string(s.worker_id) + " [" + std::to_string(s.shard.layer_begin) + "," +
         std::to_string(s.shard.layer_end) + ")";
}

// Assigns `chosen` at once (the serving plan is broken or there is none).
void assign_now(planner_actor* self, const planner::plan& chosen, std::vector<stage_shard> made,
                const std::string& why) {
  auto& st = self->state;
  st.version = ++st.versions;
  st.current = chosen;
  st.last_served = chosen;
  st.slots.clear();
  std::string line = "v" + std::to_string(st.version) + " (" + why + "):";
  for (size_t i = 0; i < chosen.stages.size(); ++i) {
    stage_slot slot;
    slot.worker_id = std::stoull(chosen.stages[i].worker_id);
    slot.shard = made[i];
    send_assign(self, slot, st.version);
    line += " " + range_text(slot);
    st.slots.push_back(std::move(slot));
  }
  st.news = make_news(st, st.version, why, st.served_slots, st.slots);
  note_history(st, line + fmt::format(" predicted_ms_per_token={:.2f}", chosen.predicted_ms_per_token));
  set_unready(self, "loading stage shards for plan v" + std::to_string(st.version));
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
  if (st.workers.empty()) {
    st.current = {};
    st.slots.clear();
    set_unready(self, "no workers connected");
    return publish(self);
  }
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - st.started).count();
  if (st.workers.size() < st.opts.expected_workers && waited < st.opts.first_plan_wait_ms && st.slots.empty()) {
    set_unready(self, "waiting for workers (" + std::to_string(st.workers.size()) + " of " +
                          std::to_string(st.opts.expected_workers) + " joined)");
    schedule_replan(self, static_cast<uint32_t>(st.opts.first_plan_wait_ms - waited));
    return publish(self);
  }
  std::vector<planner::worker_profile> profiles;
  std::vector<uint64_t> ids;
  for (auto& [id, w] : st.workers) {
    profiles.push_back(to_worker_profile(w.info));
    ids.push_back(id);
  }
  bool all_present = !st.current.stages.empty();
  planner::plan previous = st.current;
  for (auto& s : previous.stages) {
    auto it = std::find(ids.begin(), ids.end(), std::stoull(s.worker_id));
    s.worker_index = it == ids.end() ? -1 : static_cast<int>(it - ids.begin());
    all_present = all_present && it != ids.end();
  }
  planner::plan chosen;
  std::string why;
  if (all_present) {
    auto r = planner::replan(st.model, profiles, previous, st.popts);
    chosen = r.chosen;
    why = st.last_change + "; " + r.why;
  } else if (auto sub = substitute(st, profiles, ids)) {
    chosen = *sub;
    why = st.last_change + "; lost stages given to idle workers, the others keep their KV";
  } else {
    chosen = planner::partition(st.model, profiles, st.popts);
    why = st.last_change;
  }
  if (!chosen.feasible) {
    abort_migration(self, "the pool cannot hold the model");
    st.current = {};
    st.slots.clear();
    set_unready(self, "the pool cannot hold the model: " + chosen.reason);
    return publish(self);
  }
  if (st.next.phase == migration_phase::loading) {
    if (all_present && plan_signature(chosen) == plan_signature(st.next.plan))
      return publish(self);  // already on its way
    abort_migration(self, all_present ? "a better plan came up" : "a worker of the serving plan left");
  }
  if (plan_signature(chosen) == plan_signature(st.current) && !st.slots.empty()) {
    assign_standbys(self);  // nothing moves; a worker that joined may stand by
    return publish(self);
  }
  std::vector<std::pair<int, int>> ranges;
  for (auto& s : chosen.stages)
    ranges.emplace_back(s.layers.begin, s.layers.end);
  std::vector<stage_shard> made;
  try {
    made = make_stage_shards(st.opts.model_dir, st.opts.shard_dir, ranges, *st.shards);
  } catch (const std::exception& e) {
    set_unready(self, std::string("cutting the stage shards failed: ") + e.what());
    spdlog::error("planner: {}", st.reason);
    return publish(self);
  }
  if (all_present && st.ready && st.opts.background_migration)
    start_migration(self, chosen, std::move(made), why);
  else
    assign_now(self, chosen, std::move(made), why);
  publish(self);
}

void on_loaded(planner_actor* self, const shard_loaded& l) {
  auto& st = self->state;
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
  if (all && !st.ready && st.next.phase == migration_phase::none)
    start_serving(self);
  if (st.next.phase == migration_phase::none)
    publish(self);
  else
    check_migration(self);
}

}  // namespace planner_detail

namespace {

using namespace planner_detail;

planner_hdl::behavior_type planner_behavior(planner_actor* self, planner_actor_options opts,
                                            std::shared_ptr<status_board> board,
                                            std::shared_ptr<shard_registry> shards) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.board = std::move(board);
  st.shards = std::move(shards);
  st.popts.goal = st.opts.objective == "throughput" ? planner::objective::throughput : planner::objective::latency;
  st.popts.context_tokens = st.opts.context;
  st.popts.concurrent_sequences = 8;
  st.popts.scratch_bytes = 32ull << 20;
  try {
    auto stats = model::inspect_model(st.opts.model_dir);
    st.model = to_model_profile(stats);
    st.model_name = stats.name;
    st.model_ok = true;
    st.reason = "waiting for workers";
    spdlog::info("planner model={} layers={} dir={}", stats.name, stats.num_layers, st.opts.model_dir);
  } catch (const std::exception& e) {
    st.reason = std::string("model cannot be inspected: ") + e.what();
    spdlog::error("planner: {}", st.reason);
  }
  publish(self);
  schedule_replan(self, st.opts.settle_ms);
  self->delayed_send(self, std::chrono::seconds(1), kv_poll_atom::value);
  self->set_down_handler([=](caf::down_msg& d) {
    auto& st = self->state;
    for (auto it = st.workers.begin(); it != st.workers.end(); ++it) {
      if (it->second.handle.address() != d.source)
        continue;
      auto id = it->first;
      spdlog::info("planner: worker={} left reason={}", id, self->system().render(d.reason));
      st.last_change = "worker " + std::to_string(id) + " left";
      st.workers.erase(it);
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
      schedule_replan(self, broken ? 0 : st.opts.settle_ms);
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
        self->monitor(j.worker);
        auto& w = st.workers[j.info.worker_id];
        w.handle = j.worker;
        w.info = j.info;
        if (!st.slots.empty() || st.version > 0)
          st.last_change = "worker " + std::to_string(j.info.worker_id) + " (" + j.info.name + ") joined";
        schedule_replan(self, st.opts.settle_ms);
        publish(self);
      },
      [=](shard_loaded& l) { on_loaded(self, l); },
      [=](plan_parked& p) { on_parked(self, p.who.address(), p.plan_version); },
      [=](replan_atom) { replan(self); },
      [=](park_deadline_atom, uint32_t version) {  // parking took too long: switch anyway
        auto& m = self->state.next;
        if (m.phase == migration_phase::parking && m.version == version) {
          spdlog::warn("planner: {} requests did not park within {} ms; switching to v{} anyway", m.waiting.size(),
                       self->state.opts.park_timeout_ms, version);
          switch_deferred(self);
        }
      },
      [=](kv_poll_atom) {  // from ourselves, every second: poll the KV ledgers
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
  };
}

}  // namespace

planner_hdl spawn_planner_actor(caf::actor_system& sys, planner_actor_options opts,
                               std::shared_ptr<status_board> board, std::shared_ptr<shard_registry> shards) {
  return sys.spawn<caf::detached>(planner_behavior, std::move(opts), std::move(board), std::move(shards));
}

}  // namespace tessera::actors
