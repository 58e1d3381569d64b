// The request actor's prefix cache hooks: before a prefill it asks the prefix
// cache actor for the longest prefix every hop of its route keeps, and sends
// the prefill from there with each hop forking from its source sequence; after
// the prefill its own prompt becomes shareable (cache_insert); when it ends the
// route's workers keep its KV (release_sequence{keep}); a fork that missed (the
// worker evicted or lost the source) re-runs the prefill without the cache, so
// a miss costs time, never a wrong answer.
#include <spdlog/spdlog.h>

#include "actors/request_state.hpp"

namespace tessera::actors::request_detail {

namespace {

// Error code a worker answers when a Forward's fork source is not held (protocol: error 7).
constexpr uint32_t cache_miss_code = 7;

bool cache_on(const request_state& st) { return st.opts.cache && st.session && st.session->params().cache; }

void insert_held(request_actor* self) {
  auto& st = self->state;
  const auto& tokens = st.session->tokens();
  auto n = std::min<size_t>(st.kv_positions, tokens.size());
  self->send(st.opts.cache, cache_insert{st.id, st.session->params().cache_salt,
                                         std::vector<int64_t>(tokens.begin(), tokens.begin() + n), st.path});
}

// Sends the prefill from the matched position (every hop forks `m.positions`).
void send_prefill(request_actor* self, const cache_match& m) {
  auto& st = self->state;
  const auto& tokens = st.session->tokens();
  uint32_t from = m.positions < tokens.size() && m.sources.size() == st.path.hops.size() ? m.positions : 0;
  if (from > 0) {
    st.next_fork = m.sources;
    st.next_fork_length = from;
    spdlog::debug("request={} forks {} of {} positions from the prefix cache", st.id, from, tokens.size());
  }
  send_step(self, 0, 0, from, std::vector<int64_t>(tokens.begin() + from, tokens.end()), {},
            static_cast<uint32_t>(tokens.size() - from), st.session->next_sampling());
}

}  // namespace

bool prefill_from_cache(request_actor* self) {
  auto& st = self->state;
  if (!cache_on(st))
    return false;
  const auto& tokens = st.session->tokens();
  if (tokens.size() <= st.opts.config.cache_block_tokens)
    return false;  // not a whole block to fork and one token to run
  ++st.step;  // answers and deadlines of the steps before are stale from here on
  auto ticket = ++st.cache_ticket;
  auto version = st.path.plan_version;
  cache_lookup q{st.id, st.session->params().cache_salt, tokens, static_cast<uint32_t>(tokens.size() - 1), st.path};
  // Still the prefill this lookup was for (no route change, no newer lookup)?
  auto current = [=] {
    auto& s = self->state;
    return s.cache_ticket == ticket && s.now == phase::prefill && s.path.plan_version == version;
  };
  self->request(st.opts.cache, std::chrono::milliseconds(st.opts.config.step_timeout_ms), std::move(q))
      .then(
          [=](cache_match& m) {
            if (current())
              send_prefill(self, m);
          },
          [=](caf::error& e) {
            spdlog::warn("request={} prefix cache did not answer: {}", self->state.id, self->system().render(e));
            if (current())
              send_prefill(self, cache_match{});
          });
  return true;
}

void cache_step_done(request_actor* self, bool was_prefill) {
  auto& st = self->state;
  st.kv_positions = static_cast<uint32_t>(st.session->tokens().size());
  if (!was_prefill)
    return;
  if (st.session->generated() == 0)
    st.session->cached_tokens = st.step_fork_length;
  if (cache_on(st))
    insert_held(self);  // requests waiting for this prompt may fork it now
}

bool on_cache_miss(request_actor* self, const step_failed& f) {
  auto& st = self->state;
  if (f.code != cache_miss_code || st.now != phase::prefill || st.step_fork_length == 0)
    return false;
  spdlog::info("request={} prefix cache miss on worker={}: {}; computing the prefill", st.id, f.worker_id,
               f.reason);
  if (f.hop < st.step_fork.size())
    self->send(st.opts.cache, cache_forget{st.step_fork[f.hop], f.worker_id});
  send_prefill(self, cache_match{});  // the whole prompt again, no fork (not a replay: no stage was lost)
  return true;
}

void keep_in_cache(request_actor* self) {
  auto& st = self->state;
  if (!cache_on(st) || !has_route(st.now))
    return;
  for (const auto& h : st.path.hops) {
    self->send(h.worker, release_sequence{st.id, true});
    st.used_workers.erase(h.worker);
  }
  insert_held(self);
}

void forget_in_cache(request_actor* self) {
  auto& st = self->state;
  if (st.opts.cache)
    self->send(st.opts.cache, cache_forget{st.id, 0});
}

}  // namespace tessera::actors::request_detail
