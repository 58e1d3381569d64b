// The worker actor: proxy of one worker socket, and the node's ledger of the
// sequences that keep KV on that worker. State, then behaviour.
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/backend_tolerance.hpp"
#include "actors/link_meter.hpp"
#include "actors/liveness.hpp"
#include "actors/metrics.hpp"
#include "actors/plan_epoch.hpp"
#include "actors/pool_context.hpp"
#include "actors/spawn.hpp"
#include "actors/wire_codec.hpp"
#include "net/limits.hpp"
#include "actors/worker_guard.hpp"
#include "actors/worker_probe.hpp"

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;

struct worker_state {
  net::ws_connection_ptr conn;
  uint64_t id = 0;
  planner_hdl planner;
  worker_options opts;
  bool welcomed = false;
  bool loading = false;  // an Assign is unanswered, and the worker was heard from just before it
  std::string name;
  clock_type::time_point last_seen = clock_type::now();
  std::optional<liveness> alive;  // from Hello on: heartbeats set the limit, every frame ends a silence
  clock_type::time_point started = clock_type::now();
  clock_type::time_point check_due;  // when the pending heartbeat check should run
  // In-flight Forwards by request id (a request has one step in flight).
  std::map<uint64_t, stage_step> pending;
  std::map<uint64_t, clock_type::time_point> sent_at;  // when each pending step went out
  // Sequences released lately (newest last, bounded). A step relayed from the
  // previous stage can arrive after its sequence's release overtook it; run,
  // it would leave KV on the worker and in the ledger for good.
  std::set<uint64_t> released;
  std::deque<uint64_t> released_order;
  // The node's ledger: KV entries each sequence holds here after its last step
  // (kept until the sequence is released or the worker goes away).
  std::map<uint64_t, uint32_t> kv_tokens_by_sequence;
  // What the worker's last Heartbeat said it holds (-1: no Heartbeat yet).
  int64_t reported_sequences = -1;
  uint64_t reported_kv_tokens = 0;
  worker_frame reported_cache;  // the last Heartbeat's prefix cache counts
  std::optional<worker_guard> guard;  // claims, results, deadlines (actors/worker_guard.hpp)
  std::optional<worker_probe> probe;  // the load probe ([verify] load_probe; actors/load_probe.hpp)
  std::string backend;                // backend_of(Hello's device): picks spot-check and probe tolerances
  // Measured link and compute (actors/link_meter.hpp); `link` is empty when
  // [planner] link_probe is off.
  std::optional<link_meter> link;
  compute_meter compute;
  struct timed_step {
    clock_type::time_point sent;
    bool alone = false;  // nothing else was in flight here when it went out
    size_t bytes_in = 0;
    uint32_t layer_begin = 0, layer_end = 0, positions = 0;
  };
  std::map<uint64_t, timed_step> timed;  // by request id, while in flight
  epoch_guard epochs;  // the highest federation epoch of an assignment or route seen here
};

using worker_actor = worker_hdl::stateful_pointer<worker_state>;

std::chrono::milliseconds heartbeat_check_period(const worker_options& opts) {
  return std::chrono::milliseconds(std::max<uint32_t>(10, opts.config.heartbeat_timeout_ms / 4));
}

// The adaptive silence limit lies in [timeout/2, timeout]; the spread of the
// worker's gaps is taken as at least one beat period (it beats every heartbeat_ms/2).
liveness::options liveness_options(const worker_options& opts) {
  liveness::options o;
  o.upper_bound = std::chrono::milliseconds(std::max<uint32_t>(1, opts.config.heartbeat_timeout_ms));
  o.lower_bound = std::max(std::chrono::milliseconds(1), o.upper_bound / 2);
  o.min_stddev = std::chrono::milliseconds(std::max<uint32_t>(1, opts.config.heartbeat_ms / 2));
  return o;
}

// Tells every request with a step in flight here that it is lost.
void fail_pending(worker_actor self, const std::string& reason) {
  auto& st = self->state;
  for (auto& [rid, s] : st.pending)
    self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, s.hop, st.id, reason});
  st.pending.clear();
  st.timed.clear();
}

// Closes the socket and quits with a reason everyone monitoring us sees.
void disconnect(worker_actor self, errc code, uint16_t ws_code, const std::string& reason) {
  auto& st = self->state;
  spdlog::warn("worker={} name={} disconnect reason=\"{}\"", st.id, st.name, reason);
  fail_pending(self, reason);
  if (st.opts.probes)
    st.opts.probes->left(st.id);
  st.conn->close(ws_code, reason.substr(0, 120));
  self->quit(make_error(code, reason));
}

// The worker lied or stalled: it goes at once (its steps fail over to the
// recovery path). A liar's name is banned from joining again; a slow worker may
// come back (and is planned at the speed it shows).
void evict(worker_actor self, const std::string& reason, bool ban = true) {
  auto& st = self->state;
  if (ban && st.opts.verify && !st.name.empty())
    st.opts.verify->ban(st.name, reason);
  disconnect(self, errc::evicted, 1008,
             "worker " + std::to_string(st.id) + " (" + st.name + ") evicted: " + reason);
}

kv_summary kv_ledger(const worker_state& st) {
  kv_summary s;
  s.worker_id = st.id;
  s.sequences = static_cast<uint32_t>(st.kv_tokens_by_sequence.size());
  for (auto& [seq, n] : st.kv_tokens_by_sequence)
    s.tokens += n;
  s.worker_sequences = st.reported_sequences;
  const auto& c = st.reported_cache;
  s.kv_bytes = c.kv_bytes;
  s.kv_budget = c.kv_budget;
  s.cached_sequences = c.cached_sequences;
  s.cached_bytes = c.cached_bytes;
  s.evictions = c.evictions;
  s.ms_per_position = st.guard->ms_per_position();
  s.measured_begin = st.guard->measured_layer_begin();
  s.measured_end = st.guard->measured_layer_end();
  if (st.link) {
    auto e = st.link->estimate();
    s.link_measured = e.measured;
    s.link_rtt_ms = st.compute.rtt_ms(e.rtt_ms);
    s.link_bytes_per_s = e.bytes_per_s;
    s.link_echoes = e.echoes;
  }
  s.compute_ms_per_position = st.compute.ms_per_position();
  s.compute_begin = st.compute.layer_begin();
  s.compute_end = st.compute.layer_end();
  return s;
}

double ms_since(clock_type::time_point t, clock_type::time_point now) {
  return std::chrono::duration<double, std::milli>(now - t).count();
}

// Sends the next link probe when one is due (none while one is in flight).
void probe_link(worker_actor self, clock_type::time_point now) {
  auto& st = self->state;
  if (!st.link)
    return;
  if (st.link->expire(ms_since(st.started, now), st.opts.config.heartbeat_timeout_ms))
    spdlog::debug("worker={} link probe unanswered for {} ms", st.id, st.opts.config.heartbeat_timeout_ms);
  if (auto p = st.link->next(ms_since(st.started, now)))
    st.conn->send_binary(encode_probe(p->seq, p->payload));
}

// A Result for a timed step: a decode step that had the worker to itself
// feeds the compute meter (wall time, reported compute, the probed link).
void timed_result(worker_state& st, uint64_t request_id, size_t bytes_out, double reported_ms,
                  clock_type::time_point now) {
  auto it = st.timed.find(request_id);
  if (it == st.timed.end())
    return;
  auto t = it->second;
  st.timed.erase(it);
  if (!t.alone)
    return;
  double rtt_ms = 0, transfer_ms = 0;
  if (st.link && st.link->estimate().measured) {
    rtt_ms = st.link->estimate().rtt_ms;
    transfer_ms = st.link->transfer_ms(static_cast<double>(t.bytes_in + bytes_out));
  }
  const double wall_ms = ms_since(t.sent, now);
  spdlog::debug("worker={} timed step layers={}-{} positions={} wall_ms={:.3f} reported_ms={:.3f} rtt_ms={:.3f} "
                "transfer_ms={:.3f}", st.id, t.layer_begin, t.layer_end, t.positions, wall_ms, reported_ms, rtt_ms,
                transfer_ms);
  st.compute.step(t.layer_begin, t.layer_end, t.positions, wall_ms, reported_ms, rtt_ms, transfer_ms);
}

void on_result(worker_actor self, worker_frame& f) {
  auto& st = self->state;
  auto it = st.pending.find(f.request_id);
  if (it == st.pending.end() || it->second.step != f.step || it->second.sequence_id != f.sequence_id) {
    spdlog::debug("worker={} stale result request={} step={} ignored", st.id, f.request_id, f.step);
    return;
  }
  if (auto bad = st.guard->check_result(f.request_id, it->second.seq_len, f.tensors, f.token_ids, clock_type::now()))
    return evict(self, *bad);
  stage_step s = std::move(it->second);
  st.pending.erase(it);
  if (auto sent = st.sent_at.find(s.request_id); sent != st.sent_at.end()) {
    if (s.sequence_id == s.request_id)  // a spot check's re-run (a sequence of its own) is no pipeline step
      metrics().stage_step(s.hop, std::chrono::duration<double>(clock_type::now() - sent->second).count());
    st.sent_at.erase(sent);
  }
  s.compute_ms += f.compute_ms;
  st.kv_tokens_by_sequence[s.sequence_id] = s.position + s.seq_len;
  bool ends_here = s.end_hop != 0 && s.hop + 1 >= s.end_hop;
  if (s.hop + 1 < s.path.hops.size() && !ends_here) {
    s.hop += 1;
    s.token_ids.clear();
    s.tensors = std::move(f.tensors);
    for (auto& t : s.tensors)
      metrics().relayed(t.data.size());
    if (s.hop < 64 && ((s.keep_inputs_hops >> s.hop) & 1))
      self->send(s.reply_to, relayed_input{s.request_id, s.step, s.hop, s.position, s.seq_len, s.tensors});
    auto next = s.path.hops[s.hop].worker;
    self->send(next, std::move(s));
    return;
  }
  self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, std::move(f.token_ids),
                                     s.compute_ms, static_cast<uint32_t>(s.path.hops.size()), std::move(f.tensors)});
}

void on_frame(worker_actor self, const ws_frame& frame) {
  auto& st = self->state;
  if (!frame.binary)
    return disconnect(self, errc::malformed_frame, 1003, "text frame on the worker socket");
  worker_frame f;
  std::string error;
  if (!decode_from_worker(frame.payload, f, error))
    return disconnect(self, errc::malformed_frame, 1008, "malformed frame: " + error);
  st.last_seen = clock_type::now();
  if (st.alive && f.what == worker_frame::kind::heartbeat)
    st.alive->beat(st.last_seen);
  else if (st.alive)
    st.alive->heard(st.last_seen);
  if (!st.welcomed) {
    if (f.what != worker_frame::kind::hello)
      return disconnect(self, errc::malformed_frame, 1008, "first frame is not Hello");
    if (f.protocol_version != kProtocolVersion)
      return disconnect(self, errc::protocol_mismatch, 1008,
                        "protocol version " + std::to_string(f.protocol_version) +
                            " (node speaks " + std::to_string(kProtocolVersion) + ")");
    st.name = f.hello.name;
    if (auto refused = st.guard->admit(f.hello))
      return disconnect(self, errc::evicted, 1008,
                        "worker " + std::to_string(st.id) + " (" + st.name + ") refused: " + *refused);
    st.welcomed = true;
    st.alive.emplace(liveness_options(st.opts), st.last_seen);
    // Worker-supplied text reaches logs and /api/status: escaped once, here.
    f.hello.name = net::escape_text(f.hello.name, 64);
    f.hello.device_kind = net::escape_text(f.hello.device_kind, 64);
    st.name = f.hello.name;
    st.backend = backend_of(f.hello.device_kind);
    f.hello.worker_id = st.id;
    if (st.opts.pool)
      f.hello.node = st.opts.pool->node_id();
    st.conn->send_binary(encode_welcome(st.id, st.opts.config.heartbeat_ms));
    probe_link(self, st.last_seen);  // the join burst starts
    spdlog::info("worker={} name={} joined device={} memory={} flops={:.3g} threads={} from={}", st.id,
                 st.name, f.hello.device_kind, f.hello.memory_bytes, f.hello.flops_per_s,
                 f.hello.threads, st.conn->remote_endpoint());
    self->send(st.planner, worker_joined{f.hello, self});
    return;
  }
  switch (f.what) {
    case worker_frame::kind::hello:
      return disconnect(self, errc::malformed_frame, 1008, "second Hello");
    case worker_frame::kind::result:
      if (st.probe && st.probe->answers(f.request_id)) {
        auto out = st.probe->on_result(f, *st.guard, st.id, st.name, st.backend, st.last_seen);
        return out ? evict(self, out->reason, out->ban) : void();
      }
      if (auto it = st.pending.find(f.request_id); it != st.pending.end() && it->second.step == f.step)
        timed_result(st, f.request_id, frame.payload.size(), f.compute_ms, st.last_seen);
      return on_result(self, f);
    case worker_frame::kind::echo:
      if (!st.link || !st.link->echoed(f.echo_seq, f.echo_payload, ms_since(st.started, st.last_seen)))
        spdlog::debug("worker={} echo seq={} answers no probe in flight: ignored", st.id, f.echo_seq);
      probe_link(self, st.last_seen);
      return;
    case worker_frame::kind::loaded:
      st.loading = false;
      st.guard->loaded(f.loaded.shard_id, f.loaded.ok);
      f.loaded.worker_id = st.id;
      f.loaded.shard_id = net::escape_text(f.loaded.shard_id, 128);
      f.loaded.error = net::escape_text(f.loaded.error, 512);
      if (st.probe && st.probe->on_loaded(f.loaded, *st.guard, st.last_seen))
        return;  // the planner hears of it once the probe is judged
      self->send(st.planner, f.loaded);
      return;
    case worker_frame::kind::error: {
      f.error_message = net::escape_text(f.error_message, 512);
      spdlog::warn("worker={} error code={} request={} message=\"{}\"", st.id, f.error_code,
                   f.request_id, f.error_message);
      if (st.probe && st.probe->answers(f.request_id)) {
        auto out = st.probe->on_error(f, *st.guard);
        return evict(self, out.reason, out.ban);
      }
      auto it = st.pending.find(f.request_id);
      if (it != st.pending.end() && f.request_id != 0) {
        auto& s = it->second;
        if (auto lie = st.guard->check_error(f.error_code, s.path.hops[s.hop].shard_id))
          return evict(self, *lie);
        st.guard->forget(f.request_id);
        st.guard->answered(clock_type::now());
        self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, s.hop, st.id,
                                           "worker error " + std::to_string(f.error_code) + ": " +
                                               f.error_message,
                                           f.error_code});
        st.pending.erase(it);
        st.timed.erase(f.request_id);
      }
      return;
    }
    case worker_frame::kind::heartbeat:
      st.reported_sequences = f.kv_sequences;
      st.reported_kv_tokens = f.kv_tokens;
      metrics().worker_cache(st.id, {f.kv_bytes, f.kv_budget, f.cached_sequences, f.cached_bytes, f.evictions});
      st.reported_cache = std::move(f);
      return;
    case worker_frame::kind::progress:
      return;
    case worker_frame::kind::evicted:  // the prefix cache index forgets them here
      if (st.opts.cache)
        for (auto seq : f.evicted)
          self->send(st.opts.cache, cache_forget{seq, st.id, true});
      return;
  }
}

void schedule_check(worker_actor self) {
  auto period = heartbeat_check_period(self->state.opts);
  self->state.check_due = clock_type::now() + period;
  self->delayed_send(self, period, heartbeat_check_atom::value);
}

// Hello and heartbeat deadlines: a worker that stays silent too long is gone.
// A check that runs late says the node itself stalled (the worker's frames may
// be waiting unread): the detector then tolerates that much more silence, up
// to the configured bound.
void check_heartbeat(worker_actor self) {
  auto& st = self->state;
  auto now = clock_type::now();
  if (st.alive)
    st.alive->observer_late(now, std::chrono::duration_cast<std::chrono::milliseconds>(now - st.check_due));
  if (!st.welcomed && now - st.started > std::chrono::milliseconds(st.opts.hello_timeout_ms))
    return disconnect(self, errc::timeout, 1008, "no Hello within " +
                                                     std::to_string(st.opts.hello_timeout_ms) + " ms");
  auto limit = st.loading ? std::max(st.opts.loading_timeout_ms, st.opts.config.heartbeat_timeout_ms)
                          : static_cast<uint32_t>(st.alive ? st.alive->tolerated(now).count()
                                                           : st.opts.config.heartbeat_timeout_ms);
  if (st.welcomed && now - st.last_seen > std::chrono::milliseconds(limit))
    return disconnect(self, errc::heartbeat_timeout, 1011,
                      "no heartbeat for " + std::to_string(limit) + " ms" + (st.loading ? " while loading" : "") +
                          " (bound " + std::to_string(st.opts.config.heartbeat_timeout_ms) + " ms)");
  // A step overdue while the worker still beats (a silent worker is the
  // liveness check's, above).
  bool beating = now - st.last_seen <= std::chrono::milliseconds(st.opts.config.heartbeat_ms);
  if (auto late = beating ? st.guard->overdue(now) : std::nullopt)
    return evict(self, *late, false);
  if (auto late = st.probe ? st.probe->overdue(now) : std::nullopt)
    return evict(self, *late, false);  // dropped, not banned: a slow worker may come back
  if (st.welcomed)
    probe_link(self, now);
  schedule_check(self);
}

worker_hdl::behavior_type worker_behavior(worker_actor self, net::ws_connection_ptr conn, uint64_t id,
                                          planner_hdl planner, worker_options opts) {
  auto& st = self->state;
  st.conn = std::move(conn);
  st.id = id;
  st.planner = std::move(planner);
  st.opts = opts;
  st.guard.emplace(opts.config, opts.verify);
  if (opts.probes) {
    auto hdl = caf::actor_cast<worker_hdl>(self);
    worker_probe::links links;
    links.send = [self](std::string frame) { self->state.conn->send_binary(std::move(frame)); };
    links.pass_on = [self](shard_loaded l) { self->send(self->state.planner, std::move(l)); };
    links.evict_self = [hdl](const std::string& reason) { caf::anon_send(hdl, evict_atom::value, reason); };
    links.verify = opts.verify;
    st.probe.emplace(opts.probes, opts.config.step_deadline_ms, opts.config.step_deadline_per_position_ms,
                     std::move(links));
  }
  if (opts.config.link_probe) {
    link_meter_options lo;
    lo.large_bytes = static_cast<uint32_t>(opts.config.link_probe_bytes);
    lo.interval_ms = opts.config.link_probe_interval_ms;
    st.link.emplace(lo, std::random_device{}() ^ id);
  }
  schedule_check(self);
  return {
      [=](ws_frame& frame) { on_frame(self, frame); },
      [=](ws_closed& c) {
        auto& st = self->state;
        spdlog::info("worker={} name={} socket closed reason=\"{}\"", st.id, st.name, c.reason);
        fail_pending(self, "worker socket closed: " + c.reason);
        if (st.opts.probes)
          st.opts.probes->left(st.id);
        self->quit(make_error(errc::socket_closed, c.reason));
      },
      [=](heartbeat_check_atom) { check_heartbeat(self); },
      [=](stage_step& s) {
        auto& st = self->state;
        if (st.released.count(s.sequence_id)) {
          spdlog::debug("worker={} step of released sequence={} dropped", st.id, s.sequence_id);
          return;
        }
        if (std::string why; !st.epochs.admit(s.path.epoch, why)) {
          spdlog::warn("worker={} refused step of request={} (plan v{}): {}", st.id, s.request_id,
                       s.path.plan_version, why);
          self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, s.hop, st.id,
                                             "stale plan: " + why});
          return;
        }
        if (s.hop >= s.path.hops.size() || s.path.hops[s.hop].worker_id != st.id) {
          self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, s.hop, st.id,
                                             "step routed to the wrong worker"});
          return;
        }
        auto frame = encode_forward(s);
        const auto& hop = s.path.hops[s.hop];
        st.timed[s.request_id] = {clock_type::now(), st.pending.empty(), frame.size(), hop.layer_begin, hop.layer_end,
                                  s.seq_len};
        st.conn->send_binary(std::move(frame));
        st.guard->forward_sent(s.request_id, s.seq_len, clock_type::now());
        s.tensors.clear();
        s.token_ids.clear();
        st.sent_at[s.request_id] = clock_type::now();
        st.pending[s.request_id] = std::move(s);
      },
      [=](assign_shard& a) {
        auto& st = self->state;
        if (std::string why; !st.epochs.admit(a.epoch, why)) {
          spdlog::warn("worker={} refused assign shard={} plan={}: {}", st.id, a.shard_id, a.plan_version, why);
          return;
        }
        spdlog::info("worker={} assign shard={} layers={}-{} head={} plan={}", st.id, a.shard_id,
                     a.layer_begin, a.layer_end, a.head.empty() ? "-" : a.head, a.plan_version);
        // A worker that had already gone quiet when its Assign went out gets no
        // loading grace: it is probably hung, not busy loading.
        st.loading = clock_type::now() - st.last_seen < std::chrono::milliseconds(st.opts.config.heartbeat_ms);
        st.guard->assigned(a.shard_id, a.files.empty() ? "" : a.files[0].name, a.layer_begin, a.layer_end);
        if (st.probe)
          st.probe->on_assign();  // a probe in flight is void
        st.conn->send_binary(encode_assign(a));
      },
      [=](release_sequence r) {
        auto& st = self->state;
        st.conn->send_binary(encode_release(r.sequence_id, r.keep));
        st.kv_tokens_by_sequence.erase(r.sequence_id);
        st.sent_at.erase(r.sequence_id);
        if (st.released.insert(r.sequence_id).second)
          st.released_order.push_back(r.sequence_id);
        if (st.released_order.size() > 4096) {
          st.released.erase(st.released_order.front());
          st.released_order.pop_front();
        }
        // A step of the sequence still in flight here is void: its result
        // would put the sequence back in the ledger (and go on to the next hop).
        for (auto it = st.pending.begin(); it != st.pending.end();) {
          if (it->second.sequence_id == r.sequence_id) {
            st.guard->forget(it->first);
            st.timed.erase(it->first);
            st.sent_at.erase(it->first);  // keyed by request id (a spot check's differs from its sequence)
          }
          it = it->second.sequence_id == r.sequence_id ? st.pending.erase(it) : std::next(it);
        }
      },
      [=](const plan_news& n) {
        auto& st = self->state;
        if (!st.welcomed)
          return;  // the worker learns the plan it joins through its Assign
        if (std::string why; !st.epochs.admit(n.epoch, why)) {
          spdlog::warn("worker={} refused plan_news plan={}: {}", st.id, n.plan_version, why);
          return;
        }
        spdlog::debug("worker={} plan_news plan={} stages={}", st.id, n.plan_version, n.stages.size());
        st.conn->send_binary(encode_plan_news(n));
      },
      // A second holder of its shard disagreed with it (request_verify.cpp).
      [=](evict_atom, const std::string& reason) { evict(self, reason); },
      // The node's ledger, plus the sequence count the worker itself last reported.
      [=](kv_query_atom) { return kv_ledger(self->state); },
  };
}

}  // namespace

worker_hdl spawn_worker_actor(caf::actor_system& sys, net::ws_connection_ptr conn, uint64_t worker_id,
                              planner_hdl planner, worker_options opts) {
  return sys.spawn(worker_behavior, std::move(conn), worker_id, std::move(planner), opts);
}

}  // namespace tessera::actors
