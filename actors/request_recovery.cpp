// Leaving a route (request actor): a lost stage (recover), parking for a
// migration (park), moving to a new plan at a token boundary (leave_route),
// and rebuilding the KV of the stages a new route changed (start_rebuild,
// planned by the pure plan_rebuild).
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "actors/request_state.hpp"

namespace tessera::actors::request_detail {

std::vector<hop_key> keys_of(const route& r) {
  std::vector<hop_key> out;
  for (auto& h : r.hops)
    out.push_back({h.worker_id, h.shard_id, h.load_epoch, h.layer_begin});
  return out;
}

// Stops using the route, remembering it and how many positions every stage of
// it held (tokens[0, n-1) while decoding; else nothing), for the next route to
// keep or rebuild. `clean`: left at a token boundary rather than lost mid-step.
void drop_route(request_actor* self, bool clean, phase next) {
  auto& st = self->state;
  cancel_check(self);
  st.lost_path = st.path;
  st.lost_positions = st.now == phase::decoding ? static_cast<uint32_t>(st.session->tokens().size() - 1) : 0;
  st.rebuild.clear();
  st.switch_pending = false;
  st.left_cleanly = clean;
  st.now = next;
  metrics().request_waiting(st.id, true);
}

// At a token boundary (no step in flight): stop using the route. Every stage
// holds KV for tokens[0, n-1), which the next route keeps or rebuilds.
// `ask_now`: moving to a plan that already serves; else parked until it does.
void leave_route(request_actor* self, bool ask_now) {
  auto& st = self->state;
  drop_route(self, true, ask_now ? phase::queued : phase::parked);
  ++st.session->migrations;
  if (ask_now)
    ask_route(self);
  else
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), route_retry_atom::value);
}

void park(request_actor* self) {
  auto& st = self->state;
  st.pause_pending = false;
  self->send(st.planner, plan_parked{request_hdl(self), st.pause_version});
  spdlog::info("request={} parked at token {} for plan v{}", st.id, st.session->generated(), st.pause_version);
  if (has_route(st.now))
    leave_route(self, false);
}

// A stage was lost or refused the step: get a route again and rebuild the KV.
void recover(request_actor* self, const std::string& why) {
  auto& st = self->state;
  if (!has_route(st.now))
    return;
  drop_route(self, false, phase::recovering);
  if (++st.session->failures > st.opts.max_failures)
    return fail(self, errc::worker_error, "gave up after " + std::to_string(st.session->failures - 1) +
                                              " lost stages; last: " + why);
  spdlog::info("request={} step={} lost: {}; re-routing", st.id, st.step, why);
  metrics().recovered(st.id, why);
  self->send(st.client, status_event{"recovering", why});
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
  std::vector<int64_t> token_ids;
  std::vector<tensor_blob> inputs;
  if (first == 0) {
    const auto& tokens = st.session->tokens();
    token_ids.assign(tokens.begin(), tokens.begin() + st.lost_positions);
  } else if (auto kept = st.kept.replay(st.path.hops[first].layer_begin, st.lost_positions)) {
    inputs = std::move(*kept);
  } else {
    st.rebuild.clear();  // not replayable after all: re-run everything from the tokens
    st.now = phase::prefill;
    return send_token_step(self);
  }
  ++(first == 0 ? st.session->replays : st.session->input_replays);
  st.now = phase::rebuilding;
  spdlog::info("request={} rebuilds stages {}..{} from {} at layer {} ({} positions)", st.id, first, end - 1,
               first == 0 ? "the tokens" : "kept inputs", st.path.hops[first].layer_begin, st.lost_positions);
  auto last = end == st.path.hops.size() ? 0 : end;
  send_step(self, first, last, 0, std::move(token_ids), std::move(inputs), st.lost_positions,
            {1.0f, 1, 1.0f, 0.0f});
}

// Plans the KV rebuild on the new route (every stage of the old one held
// positions [0, lost_positions)) and sends its first run. False: re-run
// everything from the tokens instead.
bool start_rebuild(request_actor* self) {
  auto& st = self->state;
  st.rebuild = plan_rebuild(keys_of(st.path), keys_of(st.lost_path), [&](uint32_t layer_begin) {
    return st.kept.covers(layer_begin, st.lost_positions);
  });
  if (st.rebuild.empty())
    return false;
  send_rebuild(self);
  return true;
}

}  // namespace tessera::actors::request_detail
