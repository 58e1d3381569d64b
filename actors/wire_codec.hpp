// Translation between the worker protocol (net/proto/worker.proto) and actor
// messages. Pure functions: no CAF runtime, no sockets. The worker actor calls
// these; tests/actors checks them against hand-built frames.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace tessera::actors {

constexpr uint32_t kProtocolVersion = 1;

std::string encode_welcome(uint64_t worker_id, uint32_t heartbeat_ms);
std::string encode_assign(const assign_shard& a);
// The Forward for step.path.hops[step.hop] (its shard id travels along).
std::string encode_forward(const stage_step& step);
// keep: the worker keeps the KV as a cached prefix instead of dropping it.
std::string encode_release(uint64_t sequence_id, bool keep = false);
std::string encode_heartbeat(uint64_t unix_ms);
// ToWorker.probe: a link probe the worker echoes at once (actors/link_meter.hpp).
std::string encode_probe(uint64_t seq, const std::string& payload);
// ToWorker.plan_news: a plan started serving (what moved and why), for the worker page.
std::string encode_plan_news(const plan_news& n);

// One decoded FromWorker frame.
struct worker_frame {
  enum class kind { hello, loaded, result, heartbeat, error, progress, evicted, echo };
  kind what = kind::heartbeat;
  uint32_t protocol_version = 0;  // hello
  worker_info hello;              // hello (worker_id left 0)
  shard_loaded loaded;            // loaded (worker_id left 0)
  // result
  uint64_t request_id = 0;
  uint64_t sequence_id = 0;
  uint32_t step = 0;
  std::vector<tensor_blob> tensors;
  std::vector<int64_t> token_ids;
  double compute_ms = 0;
  std::string shard_id;
  // error
  uint32_t error_code = 0;
  std::string error_message;
  // progress
  uint64_t bytes_done = 0, bytes_total = 0;
  // heartbeat: what the worker holds (0 from workers that predate these fields)
  uint32_t kv_sequences = 0;
  uint64_t kv_tokens = 0;
  // heartbeat: the worker's prefix cache (0 from workers without one)
  uint64_t kv_bytes = 0, kv_budget = 0, cached_sequences = 0, cached_bytes = 0, evictions = 0;
  // evicted: cached sequences the worker dropped
  std::vector<uint64_t> evicted;
  // echo: the Probe it answers (its seq) and the bytes it carried back
  uint64_t echo_seq = 0;
  std::string echo_payload;
};

// false (and `error` says why) when the bytes are not a FromWorker with a body.
bool decode_from_worker(const std::string& bytes, worker_frame& out, std::string& error);

}  // namespace tessera::actors
