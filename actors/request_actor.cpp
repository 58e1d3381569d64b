// The request actor: one prompt from tokenising to the final message. State
// in request_state.hpp; leaving a route (lost stages, parking, moving to a new
// plan, KV rebuild planning) in request_recovery.cpp; the rest here.
//
// Recovery (issue 6): when a stage is lost the request fetches a new route.
// Stages whose worker, shard and load epoch did not change keep their KV; each
// run of changed stages is rebuilt on its own by replaying the stage inputs the
// request kept at its first boundary (input_store), or the tokens for a run
// from the first stage; when those inputs are not kept, everything from the
// first changed stage is re-run.
// Forward cuts KV to `position`, so both are idempotent, and step i always
// draws seeded_uniform(seed, i), so the output is the fault-free one.
//
// Migration (a better plan while this one serves): the request subscribes to
// the planner. plan_changed while running: at the next token boundary it takes
// the new route and rebuilds the hops that changed. plan_pause: at
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

#include "actors/request_state.hpp"
#include "actors/status_board.hpp"

namespace tessera::actors {

namespace request_detail {

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
  self->delayed_send(self, std::chrono::milliseconds(st.opts.step_timeout_ms), step_deadline_atom::value, st.step);
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
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), route_retry_atom::value);
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

}  // namespace request_detail

namespace {

using namespace request_detail;

request_hdl::behavior_type request_behavior(request_actor* self, net::ws_connection_ptr client, uint64_t id,
                                            generate_params params, planner_hdl planner,
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
      [=](route_retry_atom) { ask_route(self); },  // (re)start: ask the planner
      [=](step_deadline_atom, uint32_t step) {
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
request_hdl::behavior_type request_init(request_actor* self, net::ws_connection_ptr client, uint64_t id,
                                        generate_params params, planner_hdl planner,
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
  self->send(st.planner, subscribe_atom::value, request_hdl(self));
  self->send(self, route_retry_atom::value);
  return bhvr;
}

}  // namespace

request_hdl spawn_request_actor(caf::actor_system& sys, net::ws_connection_ptr client, uint64_t request_id,
                                generate_params params, planner_hdl planner,
                               std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  return sys.spawn(request_init, std::move(client), request_id, std::move(params), std::move(planner),
                   std::move(tok), opts);
}

}  // namespace tessera::actors
