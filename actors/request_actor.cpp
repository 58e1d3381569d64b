// The request actor: one prompt from tokenising to the final message, as a
// state machine over `phase` (request_state.hpp) around a request_session.
// Its client actor hears token/status/done/error events; the workers of its
// route hear stage_steps; the planner answers routes and announces plans.
//
// queued -> prefill -> decoding -> done, with detours: a lost stage
// (recovering), a migration (parked, or queued again for a plan switch) and,
// on the next route, rebuilding the KV of the stages that changed
// (request_recovery.cpp). Forward cuts KV to `position`, so re-running is
// idempotent, and token i always draws seeded_uniform(seed, i), so the output
// is the fault-free one.
#include <algorithm>
#include <chrono>

#include <caf/actor_system.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "actors/request_state.hpp"
#include "actors/status_board.hpp"
#include "net/limits.hpp"

namespace tessera::actors {

namespace request_detail {

const char* to_string(phase p) {
  switch (p) {
    case phase::queued: return "queued";
    case phase::prefill: return "prefill";
    case phase::decoding: return "decoding";
    case phase::rebuilding: return "rebuilding";
    case phase::parked: return "parked";
    case phase::recovering: return "recovering";
    case phase::done: return "done";
  }
  return "unknown";
}

void release_all(request_actor* self) {
  for (auto& w : self->state.used_workers)
    self->send(w, release_sequence{self->state.id});
  self->state.used_workers.clear();
}

// Counts the request in /api/status once, when it ends.
void count_end(request_actor* self, bool ok) {
  auto& st = self->state;
  st.metered.finish(st.session ? st.session->tokens().size() : 0);  // prompt + completion tokens
  if (!st.opts.board || st.counted_end)
    return;
  st.counted_end = true;
  st.opts.board->requests_active--;
  (ok ? st.opts.board->requests_done : st.opts.board->requests_failed)++;
  if (st.session)
    st.opts.board->tokens_generated += st.session->generated();
}

void fail(request_actor* self, errc code, const std::string& message) {
  spdlog::warn("request={} failed: {}", self->state.id, net::escape_text(message, 512));
  metrics().request_ended(self->state.id, "failed");
  count_end(self, false);
  forget_in_cache(self);
  self->send(self->state.client, error_event{message, to_string(code)});
  release_all(self);
  self->state.now = phase::done;
  self->quit(make_error(code, message));
}

void finish(request_actor* self, const std::string& reason) {
  auto& st = self->state;
  auto done = st.session->finish(reason, static_cast<uint32_t>(st.path.hops.size()), clock_type::now());
  count_end(self, true);  // before the client hears "done", so /api/status agrees with it
  metrics().request_ended(st.id, "completed");
  spdlog::info("request={} done reason={} prompt_tokens={} tokens={} ttft_ms={:.1f} per_token_ms={:.2f} "
               "spot_checks={} inconclusive={} max_difference={:.3g}",
               st.id, reason, done.prompt_tokens, done.completion_tokens, done.timings.ttft_ms,
               done.timings.per_token_ms, st.checks_passed, st.checks_inconclusive, st.check_max_difference);
  self->send(st.client, std::move(done));
  keep_in_cache(self);  // the route's workers keep the KV as a cached prefix
  release_all(self);
  st.now = phase::done;
  self->quit();
}

// Bit j: a copy of the input relayed into hop j (first < j < end) is still of use.
uint64_t inputs_to_keep(const request_state& st, uint32_t first, uint32_t end, uint32_t position,
                        uint32_t seq_len) {
  uint64_t mask = 0;
  for (uint32_t j = first + 1; j < end && j < 64; ++j)
    if (st.kept.wants(st.path.hops[j].layer_begin, position, seq_len))
      mask |= uint64_t{1} << j;
  return mask;
}

// The one place a stage_step is built and sent: positions [position,
// position + seq_len) into hop `first_hop` of the current route (token ids for
// hop 0, boundary tensors otherwise), through hops [first_hop, end_hop) (0:
// to the last hop). Arms the step's deadline.
void send_step(request_actor* self, uint32_t first_hop, uint32_t end_hop, uint32_t position,
               std::vector<int64_t> token_ids, std::vector<tensor_blob> tensors, uint32_t seq_len,
               sampling_params sampling) {
  auto& st = self->state;
  auto hops = static_cast<uint32_t>(st.path.hops.size());
  stage_step s;
  s.request_id = st.id;
  s.sequence_id = st.id;
  s.step = ++st.step;
  s.position = position;
  s.seq_len = seq_len;
  s.token_ids = std::move(token_ids);
  s.tensors = std::move(tensors);
  s.sampling = sampling;
  s.path = st.path;
  s.hop = first_hop;
  s.end_hop = end_hop;
  s.reply_to = self;
  s.keep_inputs_hops = inputs_to_keep(st, first_hop, end_hop == 0 ? hops : end_hop, position, seq_len);
  s.keep_inputs_hops |= plan_check(self, s, s.keep_inputs_hops);
  s.fork_from = st.step_fork = std::move(st.next_fork);
  s.fork_length = st.step_fork_length = st.next_fork_length;
  st.next_fork.clear();
  st.next_fork_length = 0;
  st.step_sent = clock_type::now();
  for (auto& h : st.path.hops)
    st.used_workers.insert(h.worker);
  self->send(st.path.hops[first_hop].worker, std::move(s));
  self->delayed_send(self, std::chrono::milliseconds(st.opts.config.step_timeout_ms), step_deadline_atom::value, st.step);
}

// The step that draws the next token: one token when decoding, else every
// token from position 0 (prefill, or a re-run after a route change).
void send_token_step(request_actor* self) {
  auto& st = self->state;
  const auto& tokens = st.session->tokens();
  if (st.now == phase::decoding) {
    auto position = static_cast<uint32_t>(tokens.size() - 1);
    return send_step(self, 0, 0, position, {tokens.back()}, {}, 1, st.session->next_sampling());
  }
  st.now = phase::prefill;
  if (st.step > 0)
    ++st.session->replays;
  if (prefill_from_cache(self))
    return;  // the prefix cache answers, then the prefill goes out
  send_step(self, 0, 0, 0, tokens, {}, static_cast<uint32_t>(tokens.size()), st.session->next_sampling());
}

void on_route(request_actor* self, route_reply& r) {
  auto& st = self->state;
  if (has_route(st.now))
    return;  // an older question's answer: a route is already in use
  auto now = clock_type::now();
  if (!st.waiting_since)
    st.waiting_since = now;
  bool usable = r.ready && !r.path.hops.empty();
  for (auto& h : r.path.hops)
    if (st.dead.count(h.worker.address()))
      usable = false;
  if (!usable) {
    auto reason = r.ready ? std::string("waiting for the plan to drop a lost worker") : r.reason;
    if (ms_between(*st.waiting_since, now) > st.opts.config.queue_timeout_ms)
      return fail(self, errc::no_capacity, "no capacity after " + std::to_string(st.opts.config.queue_timeout_ms) +
                                               " ms: " + reason);
    if (reason != st.queued_reason) {
      st.queued_reason = reason;
      st.told_waiting = true;
      self->send(st.client, status_event{"queued", reason});
    }
    self->delayed_send(self, std::chrono::milliseconds(st.opts.route_retry_ms), route_retry_atom::value);
    return;
  }
  st.session->mark_routed(now);
  metrics().request_waiting(st.id, false);
  st.queued_reason.clear();
  if (st.told_waiting) {
    st.told_waiting = false;
    self->send(st.client, status_event{"running", ""});
  }
  st.waiting_since.reset();
  st.path = std::move(r.path);
  for (auto& h : st.path.hops)
    self->monitor(h.worker);
  bool known = st.lost_positions > 0;
  if (known && st.left_cleanly && same_kv(keys_of(st.path), keys_of(st.lost_path)))
    st.now = phase::decoding;  // the same stages again (a timed-out step, an abandoned switch): KV intact
  else if (known && start_rebuild(self))
    return;
  else
    st.now = phase::prefill;
  send_token_step(self);
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

// At a token boundary (decoding, nothing in flight): park or move to a new
// plan if asked, else draw the next token.
void next_step(request_actor* self) {
  auto& st = self->state;
  if (st.pause_pending)
    return park(self);
  if (st.switch_pending) {
    spdlog::info("request={} moves to the new plan at token {}", st.id, st.session->generated());
    return leave_route(self, true);
  }
  send_token_step(self);
}

void on_result(request_actor* self, step_result& r) {
  auto& st = self->state;
  if (!has_route(st.now) || r.step != st.step)
    return;  // stale (a replaced step)
  if (st.now == phase::rebuilding) {  // a rebuilt run: its KV is back, its output is known
    st.rebuild.erase(st.rebuild.begin());
    if (!st.rebuild.empty())
      return send_rebuild(self);
    st.now = phase::decoding;
    return next_step(self);
  }
  if (r.token_ids.empty() || hold_for_check(self, r))
    return;
  take_result(self, r);
}

// A token step's answer, checked or not: the token goes to the session and
// the client, and the next step out.
void take_result(request_actor* self, step_result& r) {
  auto& st = self->state;
  auto now = clock_type::now();
  cache_step_done(self, st.now == phase::prefill);
  if (st.now == phase::decoding)
    st.session->count_decode_step(r.compute_ms, ms_between(st.step_sent, now));
  st.now = phase::decoding;
  auto id = r.token_ids[0];
  auto out = st.session->add_token(id, now);
  metrics().token(st.id);
  if (out.emit)
    self->send(st.client, token_event{id, std::move(out.text)});
  if (!out.finish.empty())
    return finish(self, out.finish);
  next_step(self);
}

}  // namespace request_detail

namespace {

using namespace request_detail;

request_hdl::behavior_type request_behavior(request_actor* self) {
  self->set_down_handler([=](caf::down_msg& d) {
    self->state.dead.insert(d.source);
    for (auto& h : self->state.path.hops)
      if (h.worker.address() == d.source)
        recover(self, "stage worker " + std::to_string(h.worker_id) + " went down");
  });
  self->set_exit_handler([=](caf::exit_msg& e) {
    release_all(self);  // the client went away: drop our KV on the workers
    metrics().request_ended(self->state.id, "cancelled");
    forget_in_cache(self);
    count_end(self, false);
    self->state.now = phase::done;
    self->quit(e.reason);
  });
  return {
      [=](route_retry_atom) { ask_route(self); },
      [=](step_deadline_atom, uint32_t step) {
        if (has_route(self->state.now) && step == self->state.step && !check_overdue(self))
          recover(self, "step " + std::to_string(step) + " timed out after " +
                            std::to_string(self->state.opts.config.step_timeout_ms) + " ms");
      },
      [=](step_result& r) {
        if (!on_check_answer(self, r))
          on_result(self, r);
      },
      [=](step_failed& f) {
        if (on_check_failed(self, f))
          return;
        if (f.step == self->state.step && !on_cache_miss(self, f))
          recover(self, f.reason);
      },
      [=](plan_pause& p) {
        auto& st = self->state;
        st.pause_version = p.plan_version;
        if (has_route(st.now))
          st.pause_pending = true;  // park when this step's result is in
        else
          park(self);
      },
      [=](plan_changed& p) {
        auto& st = self->state;
        if (!has_route(st.now))
          return ask_route(self);  // parked, queued or recovering: take it now
        if (p.path.plan_version != st.path.plan_version)
          st.switch_pending = true;  // at the next token boundary
      },
      [=](relayed_input& in) {
        auto& st = self->state;
        if (has_route(st.now) && in.step == st.step && in.hop < st.path.hops.size() && on_check_input(self, in))
          st.kept.add(st.path.hops[in.hop].layer_begin, in.position, in.seq_len, in.tensors);
      },
  };
}

// Checks the prompt before anything runs (errors go to the client), then
// subscribes to plan changes and asks for a route.
request_hdl::behavior_type request_init(request_actor* self, client_hdl client, uint64_t id,
                                        generate_params params, planner_hdl planner,
                                        std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  auto& st = self->state;
  st.client = std::move(client);
  st.id = id;
  st.planner = std::move(planner);
  st.opts = std::move(opts);
  st.kept = input_store(st.opts.config.kept_inputs_bytes);
  st.rng.seed(std::random_device{}() ^ id);
  if (st.opts.meter)  // tenants share cached prefixes only within one API key (no probing by timing)
    params.cache_salt = "key:" + st.opts.meter->key_name();
  st.session.emplace(std::move(params), std::move(tok), st.opts.config.context);
  st.waiting_since = st.session->created();
  auto bhvr = request_behavior(self);
  if (st.opts.board)
    st.opts.board->requests_active++;
  if (st.opts.client_metrics)
    metrics().request_started(id);  // the other request hooks ignore an id never started
  if (st.opts.meter) {
    if (auto refused = st.opts.meter->begin()) {
      fail(self, errc::rate_limit_exceeded, "rate limit exceeded: " + *refused);
      return bhvr;
    }
    st.metered = net::usage_slot(st.opts.meter);
  }
  if (auto bad = st.session->start()) {
    fail(self, bad->first, bad->second);
    return bhvr;
  }
  self->send(st.planner, subscribe_atom::value, request_hdl(self));
  self->send(self, route_retry_atom::value);
  return bhvr;
}

// A request frame too large to parse on a scheduler thread: parsed here, on
// the detached actor's own thread; a bad one is answered like any bad frame.
request_hdl::behavior_type request_from_frame(request_actor* self, client_hdl client, uint64_t id, std::string frame,
                                              planner_hdl planner, std::shared_ptr<const model::tokenizer> tok,
                                              request_options opts) {
  generate_params params;
  try {
    params = parse_generate_request(frame, opts.config.max_tokens_default, request_limits_of(opts.config));
  } catch (const std::invalid_argument& e) {
    self->send(client, error_event{e.what(), to_string(errc::bad_request)});
    self->quit();
    return request_behavior(self);
  }
  std::string().swap(frame);  // the parsed copy is all that is needed from here
  return request_init(self, std::move(client), id, std::move(params), std::move(planner), std::move(tok),
                      std::move(opts));
}

}  // namespace

request_hdl spawn_request_actor_for_frame(caf::actor_system& sys, client_hdl client, uint64_t request_id,
                                          std::string frame, planner_hdl planner,
                                          std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  return sys.spawn<caf::detached>(request_from_frame, std::move(client), request_id, std::move(frame),
                                  std::move(planner), std::move(tok), std::move(opts));
}

bool tokenises_off_scheduler(const generate_params& params) {
  std::size_t bytes = params.prompt_ids.empty() ? params.prompt.size() : 0;
  if (params.prompt_ids.empty())
    for (const auto& turn : params.chat)
      bytes += turn.second.size();
  return bytes > inline_tokenize_bytes;
}

request_hdl spawn_request_actor(caf::actor_system& sys, client_hdl client, uint64_t request_id,
                                generate_params params, planner_hdl planner,
                                std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  // Tokenising a long prompt takes time: on a thread of its own it cannot
  // delay the scheduler threads that read workers' heartbeats.
  if (tokenises_off_scheduler(params))
    return sys.spawn<caf::detached>(request_init, std::move(client), request_id, std::move(params),
                                    std::move(planner), std::move(tok), std::move(opts));
  return sys.spawn(request_init, std::move(client), request_id, std::move(params), std::move(planner),
                   std::move(tok), std::move(opts));
}

}  // namespace tessera::actors
