// Spawn functions of the Tessera actors (behaviour in actors/<name>.cpp).
// Included by actors/*.cpp and tests/actors only (pulls in CAF).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/node_config.hpp"
#include "net/gateway.hpp"

namespace tessera::model {
class tokenizer;
}

namespace tessera::actors {

class status_board;
class shard_registry;
class verify_registry;
class spot_check_ledger;
class pool_context;
class load_probe_cache;

// What a worker actor needs beyond the node's config: `config` supplies
// [runtime] heartbeat_ms (told to the worker in Welcome) and
// heartbeat_timeout_ms (the bound on silence); the rest are protocol constants.
struct worker_options {
  node_config config;
  uint32_t hello_timeout_ms = 10000;     // no Hello by then: disconnected
  // While a shard loads (Assign sent, no Loaded yet) a browser's main thread can
  // be busy for seconds (hashing, WASM session creation): silence is allowed up
  // to this long instead of heartbeat_timeout_ms (unless the worker had already
  // missed a heartbeat when the Assign went out).
  uint32_t loading_timeout_ms = 60000;
  cache_hdl cache;  // the prefix cache, told of the worker's evictions (may be null)
  // Stage contracts and banned names shared by the node's workers ([verify];
  // null: Results are not checked against their stage's contract).
  std::shared_ptr<verify_registry> verify;
  // [federation] pool = true: the worker's Hello names this node, and it
  // refuses assignments and steps stamped with an epoch older than one it has seen.
  std::shared_ptr<pool_context> pool;
  // Answers to load probes shared by the node's workers ([verify] load_probe;
  // null: a Loaded goes to the planner unprobed). actors/load_probe.hpp.
  std::shared_ptr<load_probe_cache> probes;
};

// The proxy of one worker socket. Expects ws_frame / ws_closed from the socket
// handler, stage_step / assign_shard / release_sequence from the runtime; sends
// worker_joined and shard_loaded to `planner`. Quits with a tessera error when
// the socket closes, heartbeats stop, or the worker breaks the protocol.
worker_hdl spawn_worker_actor(caf::actor_system& sys, net::ws_connection_ptr conn,
                              uint64_t worker_id, planner_hdl planner, worker_options opts);

// What a request actor needs beyond the node's config: `config` supplies
// [model] context and [runtime] step_timeout_ms, queue_timeout_ms and
// kept_inputs (kept_inputs_bytes: stage inputs kept to rebuild lost KV, 0: never).
struct request_options {
  node_config config;
  uint32_t route_retry_ms = 200;
  uint32_t max_failures = 8;  // route losses survived by one request
  std::shared_ptr<status_board> board;        // request counters for /api/status (may be null)
  std::shared_ptr<net::usage_meter> meter;    // the client's API key limits (null: none)
  cache_hdl cache;  // the prefix cache (null: off); a request with params.cache false skips it
  std::shared_ptr<spot_check_ledger> checks;  // spot checks on second holders (null: off)
  // false for requests the node makes itself (the prefix cache's rebuilds):
  // they are left out of the request metrics (/metrics counts clients' requests).
  bool client_metrics = true;
};

// A request id no other request of this process has (it is also the
// sequence id of the request's KV on the workers); every client shell takes its ids here.
uint64_t new_request_id();
// Ids from here on count from base + 1 (a pooled node's range, actors/plan_epoch.hpp).
void set_request_id_base(uint64_t base);

// Prompts with more text than this, and request frames larger than this, are
// parsed and tokenised on a thread of their own (the request actor is spawned
// detached), off the scheduler threads that also read workers' heartbeats.
constexpr std::size_t inline_tokenize_bytes = 16 * 1024;
bool tokenises_off_scheduler(const generate_params& params);

// One prompt: tokenises, waits for a route, runs prefill and the decode loop,
// sends `client` token and status events and a final done (or error) event,
// then quits. On a lost stage it fetches a new route and rebuilds the KV of
// the stages that changed (idempotent: a Forward cuts KV first).
request_hdl spawn_request_actor(caf::actor_system& sys, client_hdl client,
                                uint64_t request_id, generate_params params, planner_hdl planner,
                               std::shared_ptr<const model::tokenizer> tok, request_options opts);

// The same for a request frame of more than inline_tokenize_bytes: spawned
// detached, it parses `frame` (client_protocol) on its own thread first; a bad
// frame gets the client an error_event with code bad_request, and it quits.
request_hdl spawn_request_actor_for_frame(caf::actor_system& sys, client_hdl client, uint64_t request_id,
                                          std::string frame, planner_hdl planner,
                                          std::shared_ptr<const model::tokenizer> tok, request_options opts);

// One client socket on /ws/generate: parses requests (client_protocol), answers
// bad input with an error frame (the socket stays usable), runs its requests
// one after another and writes their events to the socket.
client_hdl spawn_client_actor(caf::actor_system& sys, net::ws_connection_ptr conn,
                              planner_hdl planner, std::shared_ptr<const model::tokenizer> tok,
                              request_options opts);

// One OpenAI-style API call (POST /v1/chat/completions or /v1/completions):
// spawns its client actor (detached for a body past inline_tokenize_bytes),
// which parses the body off the gateway's thread (openai_protocol), answers a
// bad one with OpenAI's error shape, and otherwise runs the call; the returned
// handler is what the gateway tells when the client hangs up.
net::http_request_handler_ptr start_openai_call(caf::actor_system& sys, net::api_call call, net::api_reply_ptr reply,
                                                planner_hdl planner, std::shared_ptr<const model::tokenizer> tok,
                                                request_options opts);

// Holds the worker inventory and the plan; re-plans on join/leave
// (planner::decide); has `maker` cut the stage shards (none: it spawns its own
// shard_maker, detached and linked), assigns them, answers get_route_atom with
// route_reply and tells subscribers about plan changes. Publishes its view to
// `board` (the /api/status snapshot). Reads the model, shard, [runtime] planner
// and [planner] keys of `cfg`; waits for cfg.local_workers.size() workers
// (at most cfg.first_plan_wait_ms) before the first plan. With `pool` (a
// pooled federation node) it hands out nothing unless this node leads, and
// stamps what it hands out with the epoch (actors/planner_pool.cpp).
planner_hdl spawn_planner_actor(caf::actor_system& sys, node_config cfg, std::shared_ptr<status_board> board,
                                std::shared_ptr<shard_registry> shards, shard_maker_hdl maker = {},
                                std::shared_ptr<pool_context> pool = {});

// The shard maker's behaviour: cut_shards -> shards_ready (make_stage_shards,
// then remove_old_cuts with `budget_bytes`). Blocking file I/O: spawn it detached.
shard_maker_hdl::behavior_type shard_maker(shard_maker_hdl::pointer self, std::string model_dir,
                                           std::string shard_dir, uint64_t budget_bytes,
                                           std::shared_ptr<shard_registry> registry);

}  // namespace tessera::actors
