// Every message the Tessera actors exchange: message structs with inspect()
// and the Tessera error category (atoms and each actor's typed interface are
// in actors/protocol.hpp, included here). One header, one source of truth;
// register_message_types() adds each struct to an actor_system_config (an
// unregistered type fails quietly in CAF 0.17, so tests/actors checks each one
// round-trips through CAF's serializer by its registered name).
//
// Included only by actors/*.cpp and tests/actors: it pulls in CAF headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/client_protocol.hpp"
#include "actors/errors.hpp"
#include "actors/protocol.hpp"
#include "actors/step_data.hpp"

namespace caf {
class actor_system_config;
}

namespace tessera::actors {

// ---- errors (category "tessera"; codes in actors/errors.hpp) --------------------

caf::error make_error(errc x, std::string context = {});
// The context of a tessera error with code `x` (what make_error was given);
// nullopt for other errors.
std::optional<std::string> error_context(const caf::error& e, errc x);

// ---- data on the pipeline --------------------------------------------------------

// One stage of a route: which worker actor serves which layers with which shard.
struct route_hop {
  worker_hdl worker;
  uint64_t worker_id = 0;
  std::string shard_id;
  uint32_t layer_begin = 0;
  uint32_t layer_end = 0;
  // Counts the shard changes the planner sent this worker: a worker drops its
  // KV when it switches shards, so a hop still holds a request's KV only when
  // worker, shard and epoch all match the hop the request last ran on.
  uint32_t load_epoch = 0;
  std::string worker_name;  // for reasons a client reads
  std::string backend;      // "cpu", "wasm", "webgpu" (backend_of its device): picks spot-check tolerances
};

// The pipeline a request runs through, in stage order. `plan_version` changes
// whenever the planner re-plans; a request switches routes only between tokens.
struct route {
  uint32_t plan_version = 0;
  std::vector<route_hop> hops;
  // Workers outside `hops` that hold one of their shards (standbys): a step
  // of that hop can be re-run there as a spot check (actors/spot_check.hpp).
  std::vector<route_hop> verifiers;
  // The federation epoch of the planner that made it (0 outside a pool): a
  // worker actor refuses steps along a route older than an epoch it has seen.
  uint64_t epoch = 0;
};

// One step of one sequence travelling along its route. The request actor sends
// it to hops[0]; each worker actor runs its stage and passes the step, with the
// stage's outputs as `tensors`, to hops[hop + 1]; the last one answers
// `reply_to` with step_result. `compute_ms` accumulates the workers' compute.
struct stage_step {
  uint64_t request_id = 0;
  uint64_t sequence_id = 0;
  uint32_t step = 0;
  uint32_t position = 0;  // absolute position of the first new token (KV is cut to it first)
  uint32_t seq_len = 0;
  std::vector<int64_t> token_ids;    // first stage
  std::vector<tensor_blob> tensors;  // later stages
  sampling_params sampling;
  route path;
  uint32_t hop = 0;
  request_hdl reply_to;
  double compute_ms = 0;
  int64_t sent_ns = 0;  // steady clock when the request sent it (same process)
  // Bit j set: the worker actor that relays this step into hop j also sends
  // reply_to a copy of that input (relayed_input). The request sets only the
  // bits whose copies it can still use (input_store::wants).
  uint64_t keep_inputs_hops = 0;
  // 0: the step runs to the last hop. Otherwise it runs hops [hop, end_hop)
  // only and the worker actor of hop end_hop - 1 answers reply_to with a
  // step_result without tokens (rebuilding those stages' KV).
  uint32_t end_hop = 0;
  // Prefix cache: hop i's sequence starts as a copy of the first fork_length
  // KV positions of sequence fork_from[i] there (empty: no fork).
  std::vector<uint64_t> fork_from;
  uint32_t fork_length = 0;
};

// The last stage's answer for one step.
struct step_result {
  uint64_t request_id = 0;
  uint64_t sequence_id = 0;
  uint32_t step = 0;
  std::vector<int64_t> token_ids;
  double compute_ms = 0;  // sum over the hops
  uint32_t hops = 0;
  std::vector<tensor_blob> tensors;  // the last hop's boundary outputs when it is not the last stage
};

// A step could not be completed (worker error, worker gone, stale route).
struct step_failed {
  uint64_t request_id = 0;
  uint64_t sequence_id = 0;
  uint32_t step = 0;
  uint32_t hop = 0;
  uint64_t worker_id = 0;
  std::string reason;
  uint32_t code = 0;  // the worker's Error code when it refused the step (7: a fork missed), else 0
};

// Copy of the boundary input a worker actor relayed into hop `hop` (only for
// the hops stage_step::keep_inputs_hops names): the request keeps these to
// rebuild a lost stage's KV.
struct relayed_input {
  uint64_t request_id = 0;
  uint32_t step = 0;
  uint32_t hop = 0;
  uint32_t position = 0;
  uint32_t seq_len = 0;
  std::vector<tensor_blob> tensors;
};

// Drop the KV of a sequence on one worker, or keep it as a cached prefix.
struct release_sequence {
  uint64_t sequence_id = 0;
  bool keep = false;
};

// ---- prefix cache ------------------------------------------------------------------

// request -> prefix cache: the longest prefix of `tokens` whose KV every hop of
// `path` holds, at most `max_positions` long (a step must run at least one token).
struct cache_lookup {
  uint64_t request_id = 0;
  std::string salt;
  std::vector<int64_t> tokens;
  uint32_t max_positions = 0;
  route path;
};

// prefix cache -> request: fork `positions` KV positions, hop i from sequence
// sources[i] (positions 0: compute everything).
struct cache_match {
  uint32_t positions = 0;
  std::vector<uint64_t> sources;
};

// request -> prefix cache: sequence `sequence_id` holds KV for `tokens` on
// every hop of `path` (after its prefill; at its end, when its KV is kept).
struct cache_insert {
  uint64_t sequence_id = 0;
  std::string salt;
  std::vector<int64_t> tokens;
  route path;
};

// request / worker actor -> prefix cache: the sequence's KV is gone from worker
// `worker_id` (0: from every worker).
struct cache_forget {
  uint64_t sequence_id = 0;
  uint64_t worker_id = 0;
  bool evicted = false;  // the worker evicted it for room (not a missed fork)
};

// ---- sockets -> actors (request -> client events: actors/client_protocol.hpp) --------

struct ws_frame {
  std::string payload;
  bool binary = false;
};

struct ws_closed {
  std::string reason;
};

// ---- worker inventory and assignments ------------------------------------------

// What a worker said in its Hello.
struct worker_info {
  uint64_t worker_id = 0;
  std::string name;
  std::string device_kind;
  uint64_t memory_bytes = 0;
  double flops_per_s = 0;
  uint32_t threads = 0;
  std::vector<std::string> cached_shards;
  std::string node;  // the federation id of the node it is connected to (pool only; else "")
};

// worker actor -> planner, after a valid Hello.
struct worker_joined {
  worker_info info;
  worker_hdl worker;
};

struct shard_file_ref {
  std::string name;
  std::string url;
  std::string sha256;
  uint64_t bytes = 0;
};

// planner -> worker actor: load this stage (replaces the worker's current one).
struct assign_shard {
  std::string shard_id;
  uint32_t layer_begin = 0;
  uint32_t layer_end = 0;
  std::string head;  // "" unless last stage
  std::vector<shard_file_ref> files;
  uint32_t plan_version = 0;
  bool standby = false;  // load ahead only: the worker stands by to take over this stage
  uint64_t kv_budget = 0;  // bytes of KV (live + cached) the worker may hold; 0: its memory less the files
  uint64_t epoch = 0;  // the federation epoch of the planner that sent it (0 outside a pool): refused when older
};

// worker actor -> planner: the worker answered an Assign.
struct shard_loaded {
  uint64_t worker_id = 0;
  std::string shard_id;
  bool ok = false;
  std::string error;
  double download_ms = 0;
  double load_ms = 0;
};

// planner -> request: answer to get_route_atom. `ready` false: no usable plan
// yet, `reason` says why (the client is told it is queued).
struct route_reply {
  bool ready = false;
  route path;
  std::string reason;
};

// planner -> subscribers whenever the serving route changes.
struct plan_changed {
  route path;
  std::string why;
};

// worker actor -> planner (kv_query_atom): the sequences the node's ledger
// says keep KV on the worker, and what the worker itself last reported.
struct kv_summary {
  uint64_t worker_id = 0;
  uint32_t sequences = 0;
  uint64_t tokens = 0;
  uint64_t bytes = 0;
  int64_t worker_sequences = -1;  // what the worker itself last reported (Heartbeat); -1: never
  // The worker's own prefix cache counts (last Heartbeat).
  uint64_t kv_bytes = 0, kv_budget = 0, cached_sequences = 0, cached_bytes = 0, evictions = 0;
  // The worker's measured speed (actors/worker_guard.hpp): wall ms per
  // position over layers [measured_begin, measured_end); 0: not measured yet.
  double ms_per_position = 0;
  uint32_t measured_begin = 0, measured_end = 0;
  // What the node measured of the worker's link and compute (actors/link_meter.hpp).
  bool link_measured = false;  // false: the planner assumes [planner] link_rtt_ms / link_bandwidth
  double link_rtt_ms = 0, link_bytes_per_s = 0;
  uint32_t link_echoes = 0;
  // Compute ms per position over layers [compute_begin, compute_end) from decode
  // steps, the link time taken out (0: no decode step measured yet).
  double compute_ms_per_position = 0;
  uint32_t compute_begin = 0, compute_end = 0;
};

// ---- migration to a better plan ----------------------------------------------------

// planner -> subscribed requests: stop at the next token boundary (the workers
// that serve the current route are about to switch shards for `plan_version`).
// Each request answers plan_parked once it has no step in flight; it then waits
// for a route (get_route_atom / plan_changed) and rebuilds the hops that changed.
struct plan_pause {
  uint32_t plan_version = 0;
  std::string why;
};

// request -> planner: no step of mine is in flight; I wait for plan `plan_version`.
struct plan_parked {
  request_hdl who;
  uint32_t plan_version = 0;
};

// One stage of a committed plan as the worker page shows it.
struct stage_news {
  uint64_t worker_id = 0;
  std::string worker_name;
  uint32_t layer_begin = 0;
  uint32_t layer_end = 0;
  bool had_previous = false;  // false: the worker had no stage in the previous plan
  uint32_t previous_begin = 0;
  uint32_t previous_end = 0;
};

// planner -> every worker actor when a plan starts serving: what moved and why
// (the worker page lists these). `stages` is the whole new plan in stage order;
// `dropped` names workers that served in the previous plan and no longer do.
struct plan_news {
  uint32_t plan_version = 0;
  std::string why;
  std::vector<stage_news> stages;
  std::vector<uint64_t> dropped;
  uint64_t epoch = 0;  // the federation epoch of the planner that sent it (0 outside a pool): refused when older
};

// ---- stage shards ---------------------------------------------------------------------

// planner -> shard maker: cut the model into stages [bounds[i], bounds[i + 1]),
// then delete cached cuts past the disk budget, except the new one and `keep`
// (cut names: the ones serving, loading or standing by).
struct cut_shards {
  std::vector<uint32_t> bounds;
  std::vector<std::string> keep;
};

// shard maker -> planner: the cut's stages in pipeline order, each as the
// Assign its worker will get (plan_version and standby left for the planner),
// or `error` when the cut failed.
struct shards_ready {
  std::string cut;
  std::vector<assign_shard> stages;
  std::string error;
};

// ---- inspect ------------------------------------------------------------------------

#define TESSERA_INSPECT(T, ...)                                           \
  template <class Inspector>                                              \
  typename Inspector::result_type inspect(Inspector& f, T& x) {           \
    return f(caf::meta::type_name("tessera::" #T), __VA_ARGS__);          \
  }

TESSERA_INSPECT(tensor_blob, x.name, x.dtype, x.shape, x.data)
TESSERA_INSPECT(sampling_params, x.temperature, x.top_k, x.top_p, x.random)
TESSERA_INSPECT(route_hop, x.worker, x.worker_id, x.shard_id, x.layer_begin, x.layer_end, x.load_epoch,
                x.worker_name, x.backend)
TESSERA_INSPECT(route, x.plan_version, x.hops, x.verifiers, x.epoch)
TESSERA_INSPECT(stage_step, x.request_id, x.sequence_id, x.step, x.position, x.seq_len,
                x.token_ids, x.tensors, x.sampling, x.path, x.hop, x.reply_to, x.compute_ms,
                x.sent_ns, x.keep_inputs_hops, x.end_hop, x.fork_from, x.fork_length)
TESSERA_INSPECT(step_result, x.request_id, x.sequence_id, x.step, x.token_ids, x.compute_ms,
                x.hops, x.tensors)
TESSERA_INSPECT(step_failed, x.request_id, x.sequence_id, x.step, x.hop, x.worker_id, x.reason, x.code)
TESSERA_INSPECT(relayed_input, x.request_id, x.step, x.hop, x.position, x.seq_len, x.tensors)
TESSERA_INSPECT(release_sequence, x.sequence_id, x.keep)
TESSERA_INSPECT(cache_lookup, x.request_id, x.salt, x.tokens, x.max_positions, x.path)
TESSERA_INSPECT(cache_match, x.positions, x.sources)
TESSERA_INSPECT(cache_insert, x.sequence_id, x.salt, x.tokens, x.path)
TESSERA_INSPECT(cache_forget, x.sequence_id, x.worker_id, x.evicted)
TESSERA_INSPECT(ws_frame, x.payload, x.binary)
TESSERA_INSPECT(ws_closed, x.reason)
TESSERA_INSPECT(worker_info, x.worker_id, x.name, x.device_kind, x.memory_bytes, x.flops_per_s,
                x.threads, x.cached_shards, x.node)
TESSERA_INSPECT(worker_joined, x.info, x.worker)
TESSERA_INSPECT(shard_file_ref, x.name, x.url, x.sha256, x.bytes)
TESSERA_INSPECT(assign_shard, x.shard_id, x.layer_begin, x.layer_end, x.head, x.files,
                x.plan_version, x.standby, x.kv_budget, x.epoch)
TESSERA_INSPECT(shard_loaded, x.worker_id, x.shard_id, x.ok, x.error, x.download_ms, x.load_ms)
TESSERA_INSPECT(route_reply, x.ready, x.path, x.reason)
TESSERA_INSPECT(plan_changed, x.path, x.why)
TESSERA_INSPECT(kv_summary, x.worker_id, x.sequences, x.tokens, x.bytes, x.worker_sequences, x.kv_bytes,
                x.kv_budget, x.cached_sequences, x.cached_bytes, x.evictions, x.ms_per_position, x.measured_begin,
                x.measured_end, x.link_measured, x.link_rtt_ms, x.link_bytes_per_s, x.link_echoes,
                x.compute_ms_per_position, x.compute_begin, x.compute_end)
TESSERA_INSPECT(plan_pause, x.plan_version, x.why)
TESSERA_INSPECT(plan_parked, x.who, x.plan_version)
TESSERA_INSPECT(stage_news, x.worker_id, x.worker_name, x.layer_begin, x.layer_end, x.had_previous,
                x.previous_begin, x.previous_end)
TESSERA_INSPECT(plan_news, x.plan_version, x.why, x.stages, x.dropped, x.epoch)
TESSERA_INSPECT(token_event, x.id, x.text)
TESSERA_INSPECT(status_event, x.state, x.reason)
TESSERA_INSPECT(request_timings, x.queue_ms, x.ttft_ms, x.per_token_ms, x.total_ms, x.decode_steps,
                x.compute_ms_per_token, x.overhead_ms_per_token, x.stages, x.replays, x.input_replays,
                x.migrations, x.lost_stages)
TESSERA_INSPECT(done_event, x.finish_reason, x.text, x.prompt_tokens, x.completion_tokens, x.timings,
                x.cached_tokens)
TESSERA_INSPECT(error_event, x.message, x.code)
TESSERA_INSPECT(cut_shards, x.bounds, x.keep)
TESSERA_INSPECT(shards_ready, x.cut, x.stages, x.error)

#undef TESSERA_INSPECT

// Registers every message struct above (and the "tessera" error category).
void register_message_types(caf::actor_system_config& cfg);

// The names register_message_types() uses, in declaration order (for tests).
const std::vector<std::string>& registered_message_names();

}  // namespace tessera::actors
