// The prefix cache actor: owns the orchestrator's prefix_index and keeps it
// coherent with the pool. Requests ask it before a prefill (cache_lookup) and
// tell it what their sequences hold (cache_insert after the prefill, again
// when they end kept); worker actors forward evictions (cache_forget). It
// monitors the workers its entries live on (a worker gone takes its entries),
// polls the planner's route (a new plan keeps only the entries on stages that
// still serve) and rebuilds the hottest lost prefixes on the new plan, one at
// a time and only while no live request runs, as ordinary one-token requests
// whose client is a sink. Its counters go to /api/status via the status board.
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/prefix_cache.hpp"
#include "actors/status_board.hpp"

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto poll_period = std::chrono::milliseconds(250);

struct waiter {
  caf::typed_response_promise<cache_match> promise;
  cache_lookup query;
  clock_type::time_point since;
};

struct cache_state {
  std::optional<prefix_index> index;
  prefix_cache_options opts;
  std::map<caf::actor_addr, uint64_t> watched;          // monitored worker actors -> worker id
  std::map<uint64_t, std::vector<waiter>> waiting;       // by the request whose fill they wait for
  uint32_t plan_version = 0;                             // the serving plan last seen
  bool serving = false;                                  // the last poll found a plan serving without a lost worker
  std::set<uint64_t> gone;                               // workers seen leaving
  std::deque<lost_prefix> to_rebuild;                    // hottest first
  std::optional<uint64_t> rebuilding;                    // the rebuild request in flight
  caf::actor_addr rebuild_sink;
  std::set<uint64_t> rebuild_ids;
  uint64_t rebuilds = 0, rebuild_failures = 0;
  std::map<uint64_t, uint64_t> worker_rebuilds;
  static inline const char* name = "tessera.prefix_cache";
};

using cache_actor = cache_hdl::stateful_pointer<cache_state>;

std::vector<cache_stage> stages_of(const route& r) {
  std::vector<cache_stage> out;
  for (const auto& h : r.hops)
    out.push_back({h.worker_id, h.shard_id, h.load_epoch});
  return out;
}

void watch(cache_actor self, const route& r) {
  for (const auto& h : r.hops)
    if (h.worker && self->state.watched.emplace(h.worker.address(), h.worker_id).second)
      self->monitor(h.worker);
}

// The index's answer; when it is a match (not a wait), the asking request's
// own prompt becomes a fill others may wait for.
prefix_match answer(cache_actor self, const cache_lookup& q, bool may_wait) {
  auto& idx = *self->state.index;
  auto stages = stages_of(q.path);
  idx.end_fill(q.request_id);  // a request never waits for itself
  auto m = idx.lookup(q.salt, q.tokens, stages, q.max_positions, may_wait);
  if (!m.wait_for && q.tokens.size() > m.positions)
    idx.begin_fill(q.request_id, q.salt, q.tokens, stages);
  return m;
}

cache_match to_reply(const prefix_match& m) { return cache_match{m.positions, m.sources}; }

// Lookups parked on `fill` ask again (the fill ended, or may have).
void wake(cache_actor self, uint64_t fill) {
  auto it = self->state.waiting.find(fill);
  if (it == self->state.waiting.end())
    return;
  auto parked = std::move(it->second);
  self->state.waiting.erase(it);
  for (auto& w : parked) {
    auto m = answer(self, w.query, true);
    if (m.wait_for)
      self->state.waiting[*m.wait_for].push_back(std::move(w));
    else
      w.promise.deliver(to_reply(m));
  }
}

void wake_all(cache_actor self) {
  std::vector<uint64_t> fills;
  for (auto& [id, ws] : self->state.waiting)
    fills.push_back(id);
  for (auto id : fills)
    wake(self, id);
}

void queue_lost(cache_actor self, std::vector<lost_prefix> lost) {
  auto& st = self->state;
  std::vector<lost_prefix> all(std::make_move_iterator(st.to_rebuild.begin()),
                               std::make_move_iterator(st.to_rebuild.end()));
  for (auto& p : lost) {
    if (p.tokens.size() < st.index->block_tokens())
      continue;
    bool known = std::any_of(all.begin(), all.end(),
                             [&](const lost_prefix& q) { return q.salt == p.salt && q.tokens == p.tokens; });
    if (!known)
      all.push_back(std::move(p));
  }
  all = fold_lost_prefixes(std::move(all));
  if (all.size() > st.opts.config.cache_rebuild_top)
    all.resize(st.opts.config.cache_rebuild_top);
  st.to_rebuild.assign(std::make_move_iterator(all.begin()), std::make_move_iterator(all.end()));
}

// The client of one rebuild request: spawns it, drops its events, ends with it
// (with an error when it failed), and ends it when the prefix cache goes.
client_hdl::behavior_type rebuild_sink(client_hdl::pointer self, cache_hdl cache, uint64_t id, generate_params params,
                                       prefix_cache_options opts) {
  request_options ropts;
  ropts.config = opts.config;
  ropts.cache = cache;  // its insert at the end makes the prefix usable again
  ropts.client_metrics = false;
  auto req = spawn_request_actor(self->system(), self, id, std::move(params), opts.planner, opts.tok, ropts);
  self->monitor(req);
  self->monitor(cache);
  auto failed = std::make_shared<std::string>();
  self->set_down_handler([=](caf::down_msg& d) {
    if (d.source == cache.address())
      self->send_exit(req, make_error(errc::shutdown, "prefix cache stopped"));
    self->quit(failed->empty() ? caf::error{} : make_error(errc::worker_error, *failed));
  });
  return {
      [=](ws_frame&) {},
      [=](ws_closed&) {},
      [=](token_event&) {},
      [=](status_event&) {},
      [=](done_event&) {},
      [=](error_event& e) { *failed = e.message; },
  };
}

// Starts the next rebuild when nothing of it runs and no live request does.
void maybe_rebuild(cache_actor self) {
  auto& st = self->state;
  if (st.rebuilding || st.to_rebuild.empty() || !st.serving)
    return;
  if (st.opts.board && st.opts.board->requests_active.load() > 0)
    return;  // low priority: live requests first
  auto p = std::move(st.to_rebuild.front());
  st.to_rebuild.pop_front();
  generate_params params;
  params.prompt_ids = p.tokens;
  if (params.prompt_ids.size() + 1 > st.opts.config.context)
    params.prompt_ids.resize(st.opts.config.context - 1);
  params.max_tokens = 1;
  params.cache_salt = p.salt;
  auto id = new_request_id();
  auto sink = self->system().spawn(rebuild_sink, cache_hdl(self), id, std::move(params), st.opts);
  self->monitor(sink);
  st.rebuilding = id;
  st.rebuild_sink = sink.address();
  st.rebuild_ids.insert(id);
  spdlog::info("prefix_cache: rebuilding a lost prefix of {} tokens (score {}) as request={}", p.tokens.size(),
               p.score, id);
}

void publish(cache_actor self) {
  auto& st = self->state;
  if (!st.opts.board)
    return;
  prefix_cache_view v;
  v.enabled = true;
  v.block_tokens = st.index->block_tokens();
  v.index = st.index->stats();
  v.rebuilds = st.rebuilds;
  v.rebuild_failures = st.rebuild_failures;
  v.rebuild_queue = st.to_rebuild.size() + (st.rebuilding ? 1 : 0);  // waiting + the one in flight
  for (auto& [w, s] : st.index->worker_stats())
    v.workers[w].index = s;
  for (auto& [w, n] : st.worker_rebuilds)
    v.workers[w].rebuilds = n;
  st.opts.board->set_cache(std::move(v));
}

// Every poll: a new serving plan keeps only the entries on its stages; lookups
// parked too long are answered with what the index holds; a rebuild may start.
void poll(cache_actor self) {
  auto& st = self->state;
  self->request(st.opts.planner, std::chrono::seconds(1), get_route_atom::value)
      .then(
          [=](route_reply& r) {
            auto& st = self->state;
            st.serving = r.ready && std::none_of(r.path.hops.begin(), r.path.hops.end(),
                                                 [&](const route_hop& h) { return st.gone.count(h.worker_id) > 0; });
            if (!st.serving || r.path.plan_version == st.plan_version)
              return;
            st.plan_version = r.path.plan_version;
            auto lost = st.index->keep_only(stages_of(r.path));
            if (!lost.empty())
              spdlog::info("prefix_cache: plan v{} serves: {} prefixes dropped from stages that changed",
                           st.plan_version, lost.size());
            queue_lost(self, std::move(lost));
            wake_all(self);
          },
          [](caf::error&) {});
  auto limit = std::chrono::milliseconds(st.opts.config.step_timeout_ms / 2);
  for (auto& [fill, ws] : st.waiting)
    for (auto it = ws.begin(); it != ws.end();) {
      if (clock_type::now() - it->since < limit) {
        ++it;
        continue;
      }
      it->promise.deliver(to_reply(answer(self, it->query, false)));
      it = ws.erase(it);
    }
  for (auto it = st.waiting.begin(); it != st.waiting.end();)
    it = it->second.empty() ? st.waiting.erase(it) : std::next(it);
  maybe_rebuild(self);
  publish(self);
  self->delayed_send(self, poll_period, cache_poll_atom::value);
}

cache_hdl::behavior_type cache_behavior(cache_actor self, prefix_cache_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.index.emplace(st.opts.config.cache_block_tokens);
  self->monitor(st.opts.planner);  // ends with the planner (node shutdown)
  self->set_down_handler([=](caf::down_msg& d) {
    auto& st = self->state;
    if (d.source == st.opts.planner.address())
      return self->quit();
    if (d.source == st.rebuild_sink) {
      (d.reason ? st.rebuild_failures : st.rebuilds)++;
      st.rebuilding.reset();
      st.rebuild_sink = {};
      return maybe_rebuild(self);
    }
    auto it = st.watched.find(d.source);
    if (it == st.watched.end())
      return;
    st.serving = false;  // until a poll finds a plan without it
    st.gone.insert(it->second);
    auto lost = st.index->drop_worker(it->second);
    spdlog::info("prefix_cache: worker={} left: {} prefixes dropped", it->second, lost.size());
    st.watched.erase(it);
    queue_lost(self, std::move(lost));
    wake_all(self);
  });
  self->send(self, cache_poll_atom::value);
  return {
      [=](cache_lookup& q) -> caf::result<cache_match> {
        watch(self, q.path);
        auto m = answer(self, q, true);
        if (!m.wait_for)
          return to_reply(m);
        auto rp = self->make_response_promise<cache_match>();
        self->state.waiting[*m.wait_for].push_back({rp, std::move(q), clock_type::now()});
        return rp;
      },
      [=](cache_insert& in) {
        auto& st = self->state;
        watch(self, in.path);
        if (st.rebuild_ids.erase(in.sequence_id))
          for (const auto& h : in.path.hops)
            ++st.worker_rebuilds[h.worker_id];
        st.index->insert(in.sequence_id, in.salt, std::move(in.tokens), stages_of(in.path));
        wake(self, in.sequence_id);
      },
      [=](cache_forget& f) {
        auto& st = self->state;
        if (f.worker_id == 0) {
          st.index->erase(f.sequence_id);
          st.rebuild_ids.erase(f.sequence_id);
          wake(self, f.sequence_id);
        } else {
          st.index->erase_on_worker(f.sequence_id, f.worker_id);
          // Rebuilds only fill free room: once one makes a worker evict, its KV
          // budget is full and each further rebuild would push out a hotter one.
          if (f.evicted && st.rebuilding && !st.to_rebuild.empty()) {
            spdlog::info("prefix_cache: worker={} evicted while rebuilding (its KV budget is full): {} lost prefixes "
                         "left unrebuilt",
                         f.worker_id, st.to_rebuild.size());
            st.to_rebuild.clear();
          }
        }
      },
      [=](cache_poll_atom) { poll(self); },
  };
}

}  // namespace

cache_hdl spawn_prefix_cache_actor(caf::actor_system& sys, prefix_cache_options opts) {
  return sys.spawn(cache_behavior, std::move(opts));
}

}  // namespace tessera::actors
