// The node's configuration: one struct, one loader. The loader reads TOML
// (configs/local.toml is the embedded default) and throws config_error naming
// the file, the key and the bad value for unknown keys, wrong types and values
// out of range. No CAF here: app/ and tests include it freely.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/federation_config.hpp"
#include "net/limits.hpp"

namespace tessera::actors {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A headless worker the node starts itself (node webworker/node/worker.mjs).
struct local_worker_config {
  std::string name;
  uint64_t memory_bytes = 0;
  int threads = 1;
  bool restart = true;  // restart = "always" (default): started again when it dies; "never"
};

struct node_config {
  // [node]
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;   // 0: any free port
  std::string log_level = "info";  // trace debug info warn error off
  std::string shard_dir = "build/shards";  // split stage shards, cached by content id
  uint64_t shard_budget_bytes = 2'000'000'000;  // cached cuts beyond the ones in use are deleted past this
  std::string static_dir = "webworker";    // worker page and its JS
  std::string port_file;                   // when set, the bound port is written here
  std::string tls_cert;  // PEM certificate chain: https/wss on the listen port (with tls_key)
  std::string tls_key;   // PEM private key of tls_cert
  std::string tls_ca;    // PEM CA the node's own local workers trust (NODE_EXTRA_CA_CERTS)
  // allowed_origins (in gateway.allowed_origins): pages that may open a WebSocket besides same-origin and loopback

  // [limits]: what one peer may use (docs/security.md, "Hard limits")
  uint64_t max_prompt_bytes = 1u << 20;    // prompt text (chat: all contents), checked before tokenising
  uint32_t max_json_depth = 64;            // nesting of client JSON, checked before parsing
  net::gateway_limits gateway;             // frames, send queues, HTTP sizes, connections per IP, idle timeout

  // [model]
  std::string model_dir = "build/models/small";
  std::string from_hf;           // when set and model_dir has no model.onnx: import this HF checkpoint
  std::string preset;            // else when set and model_dir has no model.onnx: build it
  uint32_t context = 256;        // tokens per sequence (prompt + generated)
  std::string objective = "latency";  // latency | throughput

  // [runtime]
  uint32_t heartbeat_ms = 1000;          // workers send Heartbeat at least this often
  uint32_t heartbeat_timeout_ms = 3000;  // silence longer than this: the worker is gone
  uint32_t step_timeout_ms = 30000;      // one pipeline step
  uint32_t queue_timeout_ms = 120000;    // waiting for capacity before failing a request
  uint32_t max_tokens_default = 64;
  uint64_t kept_inputs_bytes = 64ull << 20;  // per request: stage inputs kept for KV rebuild
  uint32_t settle_ms = 300;              // joins/leaves coalesce this long before a re-plan
  std::string migration = "background";  // background | immediate: how a better plan on a join is applied
  uint32_t park_timeout_ms = 5000;       // migration: how long requests may take to reach a token boundary
  bool standby = true;                   // idle workers load a serving stage's shard ahead
  int system_threads = 2;                   // CAF scheduler threads

  // [planner]: what the planner assumes where it measures nothing
  uint32_t concurrent_sequences = 8;       // sequences whose KV a stage is sized for
  uint64_t scratch_bytes = 32ull << 20;    // activations / runtime overhead per stage
  double link_rtt_ms = 0.2;                // round trip to a worker
  double link_bytes_per_s = 1e9;           // worker link bandwidth, both ways
  uint32_t first_plan_wait_ms = 15000;     // wait this long for the local workers before the first plan
  uint64_t max_worker_memory = 64ull << 30;  // a worker's memory claim is capped at this
  // Measured links and speeds (actors/link_meter.hpp, docs/planner.md)
  bool link_probe = false;                 // probe each worker's link (Probe/Echo); false: plan with link_rtt_ms / link_bandwidth
  uint32_t link_probe_interval_ms = 2000;  // re-probe this often after the join burst; 0: at join only
  uint64_t link_probe_bytes = 65536;       // size of the bandwidth probes
  double stability_margin = 0.10;          // a better plan replaces the serving one only when this much faster (relative)
  double replan_change = 0;                // re-plan when a serving worker's predicted stage time moved this much (relative; 0: never) ...
  uint32_t replan_change_polls = 3;        // ... on this many polls in a row (1 s apart): the hysteresis

  // [verify]: what the node checks of workers (actors/worker_guard.hpp)
  uint32_t step_deadline_ms = 3000;          // a Forward unanswered this long evicts the worker ...
  double step_deadline_per_position_ms = 20; // ... plus this per position it carries (prefill)
  double max_worker_flops = 1e14;            // a Hello claiming more (or a non-finite value) is refused
  bool check_results = true;                 // every Result against its stage's contract (false: benchmarks only)
  double verify_rate = 0.02;                 // probability a step is re-run on a second holder (0: off)
  uint32_t verify_first_steps = 4;           // a new worker's first steps are always re-run (when a holder exists)
  double verify_tolerance = 2e-3;            // relative difference allowed between two holders' hidden states (same backend)
  double verify_tolerance_cpu_wasm = 2e-3;   // ... between a CPU (onnxruntime-node) and a WASM worker
  double verify_tolerance_cpu_webgpu = 2e-3; // ... between a CPU and a WebGPU worker
  double verify_tolerance_wasm_webgpu = 2e-3;// ... between a WASM and a WebGPU worker
  bool load_probe = true;                    // a worker proves it loaded a shard (seeded probe) before it is routed to

  // [auth] (docs/security.md)
  std::string keys_file;    // API keys (`tessera keys`): clients need one when set
  std::string tokens_file;  // worker join tokens (`tessera tokens`): workers need one when set
  bool auth_open = false;   // allow listening beyond loopback without keys_file and tokens_file
  // [cache]: the prefix cache (docs/prefix_cache.md)
  bool cache_enabled = true;             // reuse kept KV of earlier requests' prefixes
  uint32_t cache_block_tokens = 16;      // prefixes match in whole blocks of this many tokens
  uint64_t cache_kv_budget_bytes = 0;    // caps each worker's KV (live + cached); 0 (unset): its memory less weights and scratch
  uint32_t cache_rebuild_top = 4;        // after a re-plan, rebuild this many of the hottest lost prefixes

  // [workers]
  std::string worker_command = "node";           // program
  std::string worker_script = "webworker/node/worker.mjs";
  std::vector<local_worker_config> local_workers;

  // [federation] (docs/federation.md): absent, the node stands alone
  federation_config federation;
};

// Parses "2GB", "512MB", "64KiB", "1000" (bytes). Throws config_error naming `what`.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

// Loads TOML text; `origin` names the source in errors (file name or "<embedded>").
node_config parse_node_config(const std::string& toml_text, const std::string& origin);
// Loads a file (config_error when it cannot be read or parsed).
node_config load_node_config(const std::string& path);
// The embedded default (configs/local.toml at build time).
node_config default_node_config();
const std::string& embedded_default_config_text();

}  // namespace tessera::actors
