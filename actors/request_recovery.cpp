// Leaving a route (request actor, issue 6): a lost stage (recover), parking
// for a migration (park), moving to a new plan at a token boundary
// (leave_route), and planning the KV rebuild on the new route — each run of
// changed hops rebuilt on its own from the tokens or its kept inputs.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/request_state.hpp"

namespace tessera::actors::request_detail {

// Same worker, shard and load epoch: the hop still holds our KV.
bool same_hop(const route_hop& a, const route_hop& b) {
  return a.worker_id == b.worker_id && a.shard_id == b.shard_id && a.load_epoch == b.load_epoch;
}

bool same_hops(const route& a, const route& b) {
  return a.hops.size() == b.hops.size() && std::equal(a.hops.begin(), a.hops.end(), b.hops.begin(), same_hop);
}

// Stops using the route, remembering it and how many positions every stage of
// it held (tokens[0, n-1) once the KV was complete and no rebuild was under
// way; else nothing), for the next route to keep or rebuild. `clean`: left at
// a token boundary rather than lost mid-step.
void drop_route(request_actor* self, bool clean) {
  auto& st = self->state;
  st.lost_path = st.path;
  st.lost_positions = st.kv_ready && st.rebuild_step == 0 ? static_cast<uint32_t>(st.tokens.size() - 1) : 0;
  st.rebuild_step = 0;
  st.rebuild.clear();
  st.kv_ready = false;
  st.have_route = false;
  st.switch_pending = false;
  st.left_cleanly = clean;
}

// At a token boundary (no step in flight): stop using the route. Every stage
// holds KV for tokens[0, n-1), which the next route keeps or rebuilds.
void leave_route(request_actor* self, bool ask_now) {
  auto& st = self->state;
  drop_route(self, true);
  ++st.migrations;
  if (ask_now)
    ask_route(self);
  else
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), route_retry_atom::value);
}

void park(request_actor* self) {
  auto& st = self->state;
  st.pause_pending = false;
  self->send(st.planner, plan_parked{request_hdl(self), st.pause_version});
  spdlog::info("request={} parked at token {} for plan v{}", st.id, st.tokens.size() - st.prompt_len,
               st.pause_version);
  if (st.have_route)
    leave_route(self, false);
}

// A stage was lost or refused the step: get a route again and rebuild the KV.
void recover(request_actor* self, const std::string& why) {
  auto& st = self->state;
  if (!st.in_flight)
    return;
  st.in_flight = false;
  drop_route(self, false);
  if (++st.failures > st.opts.max_failures)
    return fail(self, errc::worker_error, "gave up after " + std::to_string(st.failures - 1) +
                                              " lost stages; last: " + why);
  spdlog::info("request={} step={} lost: {}; re-routing", st.id, st.step, why);
  send_json(self, {{"status", "recovering"}, {"reason", why}});
  st.told_waiting = true;
  if (st.pause_pending)  // nothing of ours is in flight now
    park(self);
  self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), route_retry_atom::value);
}

// Sends the first run of st.rebuild: positions [0, lost_positions) into hop
// `first` — the tokens when it is the first stage, else the inputs kept at its
// boundary — through hops [first, end). Its output (a known token, or boundary
// tensors the next hop already holds KV for) is dropped.
void send_rebuild(request_actor* self) {
  auto& st = self->state;
  auto [first, end] = st.rebuild.front();
  std::optional<std::vector<tensor_blob>> inputs;
  if (first > 0 && !(inputs = st.kept.replay(st.path.hops[first].layer_begin, st.lost_positions))) {
    st.rebuild.clear();  // not replayable after all: re-run everything from the tokens
    return send_step(self);
  }
  stage_step s;
  s.request_id = st.id;
  s.sequence_id = st.id;
  s.step = ++st.step;
  s.position = 0;
  s.seq_len = st.lost_positions;
  if (first == 0) {
    s.token_ids.assign(st.tokens.begin(), st.tokens.begin() + st.lost_positions);
    ++st.replays;
  } else {
    s.tensors = std::move(*inputs);
    ++st.input_replays;
  }
  s.sampling = {1.0f, 1, 1.0f, 0.0f};
  s.path = st.path;
  s.hop = first;
  s.end_hop = end == st.path.hops.size() ? 0 : end;
  s.reply_to = self;
  s.keep_inputs = st.kept.enabled() && st.path.hops.size() > 1;
  st.in_flight = true;
  st.rebuild_step = s.step;
  st.step_sent = clock_type::now();
  for (auto& h : st.path.hops)
    st.used_workers.insert(h.worker);
  spdlog::info("request={} rebuilds stages {}..{} from {} at layer {} ({} positions)", st.id, first, end - 1,
               first == 0 ? "the tokens" : "kept inputs", st.path.hops[first].layer_begin, st.lost_positions);
  self->send(st.path.hops[first].worker, std::move(s));
  self->delayed_send(self, std::chrono::milliseconds(st.opts.step_timeout_ms), step_deadline_atom::value, st.step);
}

// Plans the KV rebuild on a new route; every stage of the old one held
// positions [0, lost_positions). Hops equal to the old route's at the same
// index keep their KV; each run of changed hops is rebuilt on its own when its
// first boundary can be fed (tokens or kept inputs), else one run goes from
// the first changed hop to the end. False: re-run everything from the tokens
// (send_step), which is what a single run over all hops amounts to anyway.
bool plan_rebuild(request_actor* self) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(st.path.hops.size());
  auto changed = [&](uint32_t j) {
    return j >= st.lost_path.hops.size() || !same_hop(st.path.hops[j], st.lost_path.hops[j]);
  };
  auto fed = [&](uint32_t j) { return j == 0 || st.kept.covers(st.path.hops[j].layer_begin, st.lost_positions); };
  std::vector<std::pair<uint32_t, uint32_t>> runs;
  for (uint32_t j = 0; j < n; ++j) {
    if (!changed(j))
      continue;
    uint32_t end = j + 1;
    while (end < n && changed(end))
      ++end;
    runs.emplace_back(j, end);
    j = end - 1;
  }
  if (runs.empty())
    return false;
  if (!std::all_of(runs.begin(), runs.end(), [&](auto& r) { return fed(r.first); })) {
    if (!fed(runs.front().first))
      return false;
    runs = {{runs.front().first, n}};
  }
  if (runs.size() == 1 && runs.front().first == 0 && runs.front().second == n)
    return false;
  st.rebuild = std::move(runs);
  send_rebuild(self);
  return true;
}

}  // namespace tessera::actors::request_detail
