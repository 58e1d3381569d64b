// The request actor's state, shared by its two sources: request_actor.cpp
// (tokenise, route, step, stream, finish) and request_recovery.cpp (leaving a
// route: lost stages, parking and moving to a new plan, KV rebuild planning).
// Internal: included by those two only (it pulls in CAF).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/input_store.hpp"
#include "actors/messages.hpp"
#include "actors/spawn.hpp"
#include "actors/stop_strings.hpp"
#include "model/tokenizer.hpp"

namespace tessera::actors::request_detail {


using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

struct request_state {
  net::ws_connection_ptr client;
  uint64_t id = 0;
  generate_params params;
  planner_hdl planner;
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
  std::set<worker_hdl> used_workers;  // to release KV at the end
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

using request_actor = request_hdl::stateful_base<request_state>;

inline double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// request_actor.cpp
void send_json(request_actor* self, const json& j);
void fail(request_actor* self, errc code, const std::string& message);
void send_step(request_actor* self);
void ask_route(request_actor* self);

// request_recovery.cpp
bool same_hops(const route& a, const route& b);
void leave_route(request_actor* self, bool ask_now);
void park(request_actor* self);
void recover(request_actor* self, const std::string& why);
bool plan_rebuild(request_actor* self);
void send_rebuild(request_actor* self);

}  // namespace tessera::actors::request_detail
