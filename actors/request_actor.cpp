// The request actor: one prompt from tokenising to the final message.
// State, then behaviour. Recovery (issue 6): when a stage is lost the request
// fetches a new route. Stages whose worker, shard and load epoch did not
// change keep their KV; each run of changed stages is rebuilt on its own by
// replaying the stage inputs the request kept at its first boundary
// (input_store), or the tokens for a run from the first stage; when those
// inputs are not kept, everything from the first changed stage is re-run.
// Forward cuts KV to `position`, so both are idempotent, and step i always
// draws seeded_uniform(seed, i), so the output is the fault-free one.
//
// Migration (a better plan while this one serves): the request subscribes to
// the planner. plan_changed while running: at the next token boundary it takes
// the new route and rebuilds from the first hop that changed. plan_pause: at
// the next token boundary it stops, answers plan_parked and waits for the new
// route (the workers it used are about to switch shards).
#include <algorithm>
#include <chrono>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/input_store.hpp"
#include "actors/spawn.hpp"
#include "actors/status_board.hpp"
#include "actors/stop_strings.hpp"
#include "model/tokenizer.hpp"

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct request_state {
  net::ws_connection_ptr client;
  uint64_t id = 0;
  generate_params params;
  caf::actor planner;
  std::shared_ptr<const model::tokenizer> tok;
  request_options opts;

  std::vector<int64_t> tokens;  // prompt + generated
  size_t prompt_len = 0;
  uint32_t max_tokens = 0;
  std::unique_ptr<model::stream_decoder> decoder;
  std::unique_ptr<stop_matcher> stops;

  route path;
  bool have_route = false;
  bool kv_ready = false;        // every stage of `path` holds KV for tokens[0 .. n-1)
  uint32_t step = 0;            // number of the step in flight (0: none yet)
  bool in_flight = false;
  std::set<caf::actor_addr> dead;     // hop workers seen going down
  std::set<caf::actor> used_workers;  // to release KV at the end
  uint32_t failures = 0;
  std::string queued_reason;
  bool told_waiting = false;    // the client got a queued/recovering status: tell it "running" again
  uint32_t replays = 0;         // KV rebuilt from the tokens
  uint32_t input_replays = 0;   // KV rebuilt from kept stage inputs
  input_store kept;
  route lost_path;              // the route when the last stage was lost
  uint32_t lost_positions = 0;  // positions every stage held before the lost step
  uint32_t rebuild_step = 0;    // step number of a KV rebuild in flight (0: none)
  std::vector<std::pair<uint32_t, uint32_t>> rebuild;  // runs of hops [first, end) still to rebuild
  bool counted_end = false;
  bool switch_pending = false;  // a new plan serves: move to it at the next token boundary
  bool pause_pending = false;   // the planner asked us to park at the next token boundary
  uint32_t pause_version = 0;
  uint32_t migrations = 0;      // route switches at a token boundary (no stage lost)
  bool left_cleanly = false;    // the last route was left at a token boundary, not lost
  clock_type::time_point waiting_since;  // since when no route is usable (queue timeout)
  bool waiting = true;

  clock_type::time_point created = clock_type::now();
  clock_type::time_point routed, first_token, last_token, step_sent;
  bool routed_once = false;
  double compute_ms = 0;        // decode steps only
  double wall_ms = 0;           // decode steps only
  uint32_t decode_steps = 0;
  static inline const char* name = "tessera.request";
};

using request_actor = caf::stateful_actor<request_state>;

void send_json(request_actor* self, const json& j) { self->state.client->send_text(j.dump()); }

void release_all(request_actor* self) {
  for (auto& w : self->state.used_workers)
    self->send(w, release_sequence{self->state.id});
  self->state.used_workers.clear();
}

// Counts the request in /api/status once, when it ends.
void count_end(request_actor* self, bool ok) {
  auto& st = self->state;
  if (!st.opts.board || st.counted_end)
    return;
  st.counted_end = true;
  st.opts.board->requests_active--;
  (ok ? st.opts.board->requests_done : st.opts.board->requests_failed)++;
  st.opts.board->tokens_generated += st.tokens.size() - st.prompt_len;
}

void fail(request_actor* self, errc code, const std::string& message) {
  spdlog::warn("request={} failed: {}", self->state.id, message);
  count_end(self, false);
  send_json(self, {{"error", message}, {"code", to_string(code)}});
  release_all(self);
  self->quit(make_error(code, message));
}

void finish(request_actor* self, const std::string& reason) {
  auto& st = self->state;
  std::string tail = st.decoder->finish();
  tail = st.stops->push(tail);
  tail += st.stops->flush();
  auto generated = st.tokens.size() - st.prompt_len;
  double per_token = generated > 1 ? ms_between(st.first_token, st.last_token) / (generated - 1) : 0;
  json timings = {
      {"queue_ms", st.routed_once ? ms_between(st.created, st.routed) : 0.0},
      {"ttft_ms", generated > 0 ? ms_between(st.created, st.first_token) : 0.0},
      {"per_token_ms", per_token},
      {"total_ms", ms_between(st.created, clock_type::now())},
      {"decode_steps", st.decode_steps},
      {"compute_ms_per_token", st.decode_steps ? st.compute_ms / st.decode_steps : 0.0},
      {"overhead_ms_per_token", st.decode_steps ? (st.wall_ms - st.compute_ms) / st.decode_steps : 0.0},
      {"stages", st.path.hops.size()},
      {"replays", st.replays},
      {"input_replays", st.input_replays},
      {"migrations", st.migrations},
      {"lost_stages", st.failures},
  };
  json done = {{"done", true},
               {"finish_reason", reason},
               {"usage", {{"prompt_tokens", st.prompt_len}, {"completion_tokens", generated}}},
               {"timings", timings}};
  if (!tail.empty())
    done["text"] = tail;
  count_end(self, true);  // before the client hears "done", so /api/status agrees with it
  send_json(self, done);
  spdlog::info("request={} done reason={} prompt_tokens={} tokens={} ttft_ms={:.1f} per_token_ms={:.2f}",
               st.id, reason, st.prompt_len, generated, timings["ttft_ms"].get<double>(), per_token);
  release_all(self);
  self->quit();
}

void ask_route(request_actor* self);
bool plan_rebuild(request_actor* self);

// Same worker, shard and load epoch: the hop still holds our KV.
bool same_hop(const route_hop& a, const route_hop& b) {
  return a.worker_id == b.worker_id && a.shard_id == b.shard_id && a.load_epoch == b.load_epoch;
}

bool same_hops(const route& a, const route& b) {
  return a.hops.size() == b.hops.size() && std::equal(a.hops.begin(), a.hops.end(), b.hops.begin(), same_hop);
}

// At a token boundary (no step in flight): stop using the route. Every stage
// holds KV for tokens[0, n-1), which the next route keeps or rebuilds.
void leave_route(request_actor* self, bool ask_now) {
  auto& st = self->state;
  st.lost_path = st.path;
  st.lost_positions = st.kv_ready ? static_cast<uint32_t>(st.tokens.size() - 1) : 0;
  st.kv_ready = false;
  st.have_route = false;
  st.switch_pending = false;
  st.left_cleanly = true;
  ++st.migrations;
  if (ask_now)
    ask_route(self);
  else
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), tick_atom::value);
}

void park(request_actor* self) {
  auto& st = self->state;
  st.pause_pending = false;
  self->send(st.planner, plan_parked{self, st.pause_version});
  spdlog::info("request={} parked at token {} for plan v{}", st.id, st.tokens.size() - st.prompt_len,
               st.pause_version);
  if (st.have_route)
    leave_route(self, false);
}

void send_step(request_actor* self) {
  auto& st = self->state;
  stage_step s;
  s.request_id = st.id;
  s.sequence_id = st.id;
  s.step = ++st.step;
  if (!st.kv_ready) {  // prefill, or rebuild after a route change: everything from 0
    s.position = 0;
    s.token_ids = st.tokens;
    if (st.step > 1)
      ++st.replays;
  } else {
    s.position = static_cast<uint32_t>(st.tokens.size() - 1);
    s.token_ids = {st.tokens.back()};
  }
  s.seq_len = static_cast<uint32_t>(s.token_ids.size());
  auto index = st.tokens.size() - st.prompt_len;  // which generated token this step draws
  if (st.params.temperature <= 0.0f)
    s.sampling = {1.0f, 1, 1.0f, 0.0f};  // top-1: the argmax
  else
    s.sampling = {st.params.temperature, st.params.top_k, st.params.top_p,
                  seeded_uniform(st.params.seed, index)};
  s.path = st.path;
  s.hop = 0;
  s.reply_to = self;
  s.keep_inputs = st.kept.enabled() && st.path.hops.size() > 1;
  st.in_flight = true;
  st.step_sent = clock_type::now();
  for (auto& h : st.path.hops)
    st.used_workers.insert(h.worker);
  self->send(st.path.hops[0].worker, std::move(s));
  self->delayed_send(self, std::chrono::milliseconds(st.opts.step_timeout_ms), tick_atom::value, st.step);
}

// A stage was lost or refused the step: get a route again and rebuild the KV.
void recover(request_actor* self, const std::string& why) {
  auto& st = self->state;
  if (!st.in_flight)
    return;
  st.in_flight = false;
  st.have_route = false;
  st.lost_path = st.path;
  st.lost_positions = st.kv_ready && st.rebuild_step == 0 ? static_cast<uint32_t>(st.tokens.size() - 1) : 0;
  st.rebuild_step = 0;
  st.rebuild.clear();
  st.kv_ready = false;
  st.switch_pending = false;
  st.left_cleanly = false;
  if (++st.failures > st.opts.max_failures)
    return fail(self, errc::worker_error, "gave up after " + std::to_string(st.failures - 1) +
                                              " lost stages; last: " + why);
  spdlog::info("request={} step={} lost: {}; re-routing", st.id, st.step, why);
  send_json(self, {{"status", "recovering"}, {"reason", why}});
  st.told_waiting = true;
  if (st.pause_pending)  // nothing of ours is in flight now
    park(self);
  self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), tick_atom::value);
}

void on_route(request_actor* self, route_reply& r) {
  auto& st = self->state;
  if (st.have_route || st.in_flight)
    return;  // an older question's answer: a route is already in use
  if (!st.waiting) {
    st.waiting = true;
    st.waiting_since = clock_type::now();
  }
  bool usable = r.ready && !r.path.hops.empty();
  for (auto& h : r.path.hops)
    if (st.dead.count(h.worker.address()))
      usable = false;
  if (!usable) {
    auto reason = r.ready ? std::string("waiting for the plan to drop a lost worker") : r.reason;
    if (ms_between(st.waiting_since, clock_type::now()) > st.opts.queue_timeout_ms)
      return fail(self, errc::no_capacity, "no capacity after " + std::to_string(st.opts.queue_timeout_ms) +
                                               " ms: " + reason);
    if (reason != st.queued_reason) {
      st.queued_reason = reason;
      st.told_waiting = true;
      send_json(self, {{"status", "queued"}, {"reason", reason}});
    }
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), tick_atom::value);
    return;
  }
  if (!st.routed_once) {
    st.routed_once = true;
    st.routed = clock_type::now();
  }
  st.queued_reason.clear();
  if (st.told_waiting) {
    st.told_waiting = false;
    send_json(self, {{"status", "running"}});
  }
  st.waiting = false;
  st.path = std::move(r.path);
  st.have_route = true;
  for (auto& h : st.path.hops)
    self->monitor(h.worker);
  if (!st.kv_ready && st.lost_positions > 0 && st.left_cleanly &&
      same_hops(st.path, st.lost_path))
    st.kv_ready = true;  // the same stages again (a timed-out step, an abandoned switch): KV intact
  else if (!st.kv_ready && st.lost_positions > 0 && plan_rebuild(self))
    return;
  send_step(self);
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
  self->delayed_send(self, std::chrono::milliseconds(st.opts.step_timeout_ms), tick_atom::value, st.step);
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

void ask_route(request_actor* self) {
  self->request(self->state.planner, std::chrono::seconds(5), get_route_atom::value)
      .then([=](route_reply& r) { on_route(self, r); },
            [=](caf::error& e) {
              route_reply r;
              r.reason = "planner did not answer: " + self->system().render(e);
              on_route(self, r);
            });
}

// At a token boundary: park or move to a new plan if asked, else go on.
void next_step(request_actor* self) {
  auto& st = self->state;
  if (st.pause_pending)
    return park(self);
  if (st.switch_pending) {
    spdlog::info("request={} moves to the new plan at token {}", st.id, st.tokens.size() - st.prompt_len);
    return leave_route(self, true);
  }
  send_step(self);
}

void on_token(request_actor* self, step_result& r) {
  auto& st = self->state;
  if (!st.in_flight || r.step != st.step)
    return;  // stale (a replaced step)
  if (r.step == st.rebuild_step) {  // a rebuilt run: its KV is back, its output is known
    st.in_flight = false;
    st.rebuild_step = 0;
    st.rebuild.erase(st.rebuild.begin());
    if (!st.rebuild.empty())
      return send_rebuild(self);
    st.kv_ready = true;
    return next_step(self);
  }
  if (r.token_ids.empty())
    return;
  st.in_flight = false;
  auto now = clock_type::now();
  if (st.kv_ready) {
    st.compute_ms += r.compute_ms;
    st.wall_ms += ms_between(st.step_sent, now);
    ++st.decode_steps;
  }
  st.kv_ready = true;
  auto id = r.token_ids[0];
  bool was_first = st.tokens.size() == st.prompt_len;
  st.tokens.push_back(id);
  if (was_first)
    st.first_token = now;
  st.last_token = now;
  if (st.tok->is_stop(id)) {
    st.tokens.pop_back();  // the stop token is not part of the reply
    return finish(self, "stop");
  }
  auto text = st.stops->push(st.decoder->push(id));
  send_json(self, {{"token", id}, {"text", text}});
  if (st.stops->stopped())
    return finish(self, "stop");
  if (st.tokens.size() - st.prompt_len >= st.max_tokens)
    return finish(self, "length");
  next_step(self);
}

caf::behavior request_behavior(request_actor* self, net::ws_connection_ptr client, uint64_t id,
                               generate_params params, caf::actor planner,
                               std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  auto& st = self->state;
  st.client = std::move(client);
  st.id = id;
  st.params = std::move(params);
  st.planner = std::move(planner);
  st.tok = std::move(tok);
  st.opts = opts;
  st.decoder = std::make_unique<model::stream_decoder>(*st.tok);
  st.stops = std::make_unique<stop_matcher>(st.params.stop);
  st.kept = input_store(st.opts.kept_inputs_bytes);
  self->set_down_handler([=](caf::down_msg& d) {
    self->state.dead.insert(d.source);
    for (auto& h : self->state.path.hops)
      if (h.worker.address() == d.source)
        recover(self, "stage worker " + std::to_string(h.worker_id) + " went down");
  });
  self->set_exit_handler([=](caf::exit_msg& e) {
    release_all(self);  // the client went away: drop our KV on the workers
    count_end(self, false);
    self->quit(e.reason);
  });
  return {
      [=](tick_atom) { ask_route(self); },  // (re)start: ask the planner
      [=](tick_atom, uint32_t step) {
        if (self->state.in_flight && step == self->state.step)
          recover(self, "step " + std::to_string(step) + " timed out after " +
                            std::to_string(self->state.opts.step_timeout_ms) + " ms");
      },
      [=](step_result& r) { on_token(self, r); },
      [=](step_failed& f) {
        if (f.step == self->state.step)
          recover(self, f.reason);
      },
      [=](plan_pause& p) {
        auto& st = self->state;
        st.pause_version = p.plan_version;
        if (st.in_flight)
          st.pause_pending = true;  // park when this step's result is in
        else
          park(self);
      },
      [=](plan_changed& p) {
        auto& st = self->state;
        if (!st.have_route && !st.in_flight)
          return ask_route(self);  // parked, queued or recovering: take it now
        if (st.have_route && p.path.plan_version != st.path.plan_version)
          st.switch_pending = true;  // at the next token boundary
      },
      [=](relayed_input& in) {
        auto& st = self->state;
        if (st.in_flight && in.step == st.step && in.hop < st.path.hops.size())
          st.kept.add(st.path.hops[in.hop].layer_begin, in.position, in.seq_len, in.tensors);
      },
  };
}

// Validates and tokenises before anything runs; errors go to the client.
caf::behavior request_init(request_actor* self, net::ws_connection_ptr client, uint64_t id,
                           generate_params params, caf::actor planner,
                           std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  auto bhvr = request_behavior(self, client, id, params, planner, tok, opts);
  auto& st = self->state;
  if (st.opts.board)
    st.opts.board->requests_active++;
  st.tokens = st.params.prompt_ids;
  if (st.tokens.empty()) {
    auto ids = st.tok->encode(st.params.prompt, true);
    st.tokens.assign(ids.begin(), ids.end());
  }
  st.prompt_len = st.tokens.size();
  if (st.prompt_len == 0) {
    fail(self, errc::bad_request, "empty prompt");
    return bhvr;
  }
  for (auto t : st.tokens)
    if (t < 0 || static_cast<uint64_t>(t) >= st.tok->vocab_size()) {
      fail(self, errc::bad_request, "prompt_ids: token " + std::to_string(t) + " outside the vocabulary of " +
                                        std::to_string(st.tok->vocab_size()));
      return bhvr;
    }
  if (st.prompt_len >= st.opts.context) {
    fail(self, errc::prompt_too_long, "prompt is " + std::to_string(st.prompt_len) +
                                          " tokens; the context holds " + std::to_string(st.opts.context) +
                                          " (prompt + reply)");
    return bhvr;
  }
  st.max_tokens = std::min<uint32_t>(st.params.max_tokens,
                                     st.opts.context - static_cast<uint32_t>(st.prompt_len));
  st.waiting_since = st.created;
  self->send(st.planner, subscribe_atom::value, caf::actor(self));
  self->send(self, tick_atom::value);
  return bhvr;
}

}  // namespace

caf::actor spawn_request_actor(caf::actor_system& sys, net::ws_connection_ptr client, uint64_t request_id,
                               generate_params params, caf::actor planner,
                               std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  return sys.spawn(request_init, std::move(client), request_id, std::move(params), std::move(planner),
                   std::move(tok), opts);
}

}  // namespace tessera::actors
