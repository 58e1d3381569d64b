// The request actor's state, shared by its two sources: request_actor.cpp
// (route, steps, tokens, the end) and request_recovery.cpp (leaving a route:
// lost stages, parking and moving to a new plan, KV rebuilds). The generation
// itself (tokens, decoder, stop strings, timings) is the CAF-free
// request_session. Internal: included by those two only (it pulls in CAF).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "net/access_control.hpp"
#include <caf/typed_event_based_actor.hpp>

#include "actors/input_store.hpp"
#include "actors/messages.hpp"
#include "actors/rebuild_plan.hpp"
#include "actors/request_session.hpp"
#include "actors/spawn.hpp"

namespace tessera::actors::request_detail {

using clock_type = std::chrono::steady_clock;

// Where a request is. A step is in flight exactly in prefill, decoding and
// rebuilding (the route is in use); between two decode steps the actor moves
// on within one message, so no other phase has a route.
enum class phase {
  queued,      // waiting for a route: at the start, or moving to a new plan
  prefill,     // running the tokens from position 0 (first step, or a re-run)
  decoding,    // every stage holds KV for tokens[0, n-1); one token per step
  rebuilding,  // re-creating the KV of changed stages (rebuild runs)
  parked,      // left the route for a migration; waiting for the new plan
  recovering,  // a stage was lost; waiting for a route again
  done,
};
const char* to_string(phase p);
inline bool has_route(phase p) { return p == phase::prefill || p == phase::decoding || p == phase::rebuilding; }

// One hop of a step re-run on a second holder of its shard (request_verify.cpp).
struct spot_check {
  uint32_t hop = 0;                 // the hop checked
  route_hop verifier;               // the second holder
  uint64_t sequence = 0;            // the verifier's sequence (an id no request has)
  bool sent = false;                // the verifier has its run
  std::optional<std::string> abandoned;  // the verifier cannot answer: why (the hop counts as unchecked)
  std::optional<std::vector<tensor_blob>> checked_output;  // what the checked hop relayed on
  std::optional<step_result> verified;  // the verifier's answer
};

// The checks of one step; its token is held until every one has answered.
struct step_checks {
  uint32_t step = 0;
  uint32_t position = 0, seq_len = 0;
  sampling_params sampling;
  uint64_t forced_keep = 0;            // keep_inputs_hops bits set only for the checks
  std::vector<spot_check> hops;
  std::optional<step_result> held;     // the pipeline's answer, held until the verdict
};

struct request_state {
  client_hdl client;
  uint64_t id = 0;
  planner_hdl planner;
  request_options opts;
  std::optional<request_session> session;
  phase now = phase::queued;

  route path;                         // the route in use (the last one used, outside has_route)
  uint32_t step = 0;                  // number of the last step sent (0: none yet)
  clock_type::time_point step_sent;
  std::set<caf::actor_addr> dead;     // hop workers seen going down
  std::set<worker_hdl> used_workers;  // to release KV at the end
  std::optional<clock_type::time_point> waiting_since;  // no usable route since (queue timeout)
  std::string queued_reason;
  bool told_waiting = false;  // the client heard queued/recovering: tell it "running" again

  // Leaving a route, and the way back.
  input_store kept;
  route lost_path;              // the route last left
  uint32_t lost_positions = 0;  // positions every stage of lost_path held (0: none known)
  bool left_cleanly = false;    // lost_path was left at a token boundary, not lost mid-step
  std::vector<rebuild_run> rebuild;  // runs still to rebuild; front() is in flight while rebuilding
  bool switch_pending = false;  // a new plan serves: move to it at the next token boundary
  bool pause_pending = false;   // the planner asked us to park at the next token boundary
  uint32_t pause_version = 0;
  bool counted_end = false;
  net::usage_slot metered;  // this request's place on its API key's meter (empty: no key)

  // Prefix cache (request_cache.cpp).
  uint32_t cache_ticket = 0;          // the lookup being answered (older answers are dropped)
  std::vector<uint64_t> next_fork;    // consumed by the next send_step: hop i forks from next_fork[i]
  uint32_t next_fork_length = 0;
  std::vector<uint64_t> step_fork;    // what the step in flight forked
  uint32_t step_fork_length = 0;
  uint32_t kv_positions = 0;          // KV positions every hop held after the last completed step

  // Spot checks (request_verify.cpp).
  std::optional<step_checks> check;
  uint32_t checks_passed = 0, checks_inconclusive = 0;  // hops re-run and agreed / not answered
  double check_max_difference = 0;                      // the largest relative difference that agreed
  std::mt19937_64 rng;
  static inline const char* name = "tessera.request";
};

using request_actor = request_hdl::stateful_base<request_state>;

// request_actor.cpp
void fail(request_actor* self, errc code, const std::string& message);
void ask_route(request_actor* self);
void send_token_step(request_actor* self);
void send_step(request_actor* self, uint32_t first_hop, uint32_t end_hop, uint32_t position,
               std::vector<int64_t> token_ids, std::vector<tensor_blob> tensors, uint32_t seq_len,
               sampling_params sampling);

// request_cache.cpp: the prefix cache hooks
bool prefill_from_cache(request_actor* self);
void cache_step_done(request_actor* self, bool was_prefill);
bool on_cache_miss(request_actor* self, const step_failed& f);
void keep_in_cache(request_actor* self);
void forget_in_cache(request_actor* self);

void take_result(request_actor* self, step_result& r);

// request_verify.cpp: spot checks
uint64_t plan_check(request_actor* self, const stage_step& s, uint64_t wanted_keep);
bool on_check_input(request_actor* self, const relayed_input& in);
bool hold_for_check(request_actor* self, step_result& r);
bool on_check_answer(request_actor* self, step_result& r);
bool on_check_failed(request_actor* self, const step_failed& f);
bool check_overdue(request_actor* self);
void cancel_check(request_actor* self);

// request_recovery.cpp
std::vector<hop_key> keys_of(const route& r);
void leave_route(request_actor* self, bool ask_now);
void park(request_actor* self);
void recover(request_actor* self, const std::string& why);
bool start_rebuild(request_actor* self);
void send_rebuild(request_actor* self);

}  // namespace tessera::actors::request_detail
