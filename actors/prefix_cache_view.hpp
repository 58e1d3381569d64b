// The prefix cache's part of /api/status: what the prefix cache actor
// publishes (index counts, rebuilds) and what each worker's Heartbeat says its
// cache holds, rendered as JSON. Pure, no CAF.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "actors/prefix_index.hpp"

namespace tessera::actors {

// A worker's own report (Heartbeat): KV held, its budget, its cached prefixes.
struct worker_cache_counts {
  uint64_t kv_bytes = 0, kv_budget = 0, cached_sequences = 0, cached_bytes = 0, evictions = 0;
};

struct prefix_cache_worker_view {
  prefix_worker_stats index;  // entries on the worker, lookups of routes through it, hits
  uint64_t rebuilds = 0;      // lost prefixes rebuilt onto it in the background
};

// The prefix cache actor's snapshot.
struct prefix_cache_view {
  bool enabled = false;
  uint32_t block_tokens = 0;
  prefix_index_stats index;
  uint64_t rebuilds = 0, rebuild_failures = 0;
  uint64_t rebuild_queue = 0;  // lost prefixes still to rebuild, the one in flight included
  std::map<uint64_t, prefix_cache_worker_view> workers;
};

// "prefix_cache": {"enabled", "block_tokens", "entries", "lookups", "hits", "hit_rate",
// "cached_tokens", "waits", "rebuilds", "rebuild_failures", "rebuild_queue"}.
nlohmann::json prefix_cache_json(const prefix_cache_view& v);

// A worker's "cache": {"kv_bytes", "kv_budget", "cached_sequences", "cached_bytes",
// "evictions"} and, with `view`, the index's "entries", "lookups", "hits", "hit_rate", "rebuilds".
nlohmann::json worker_cache_json(uint64_t worker_id, const worker_cache_counts& counts,
                                 const prefix_cache_view* view);

// The index's counts as Prometheus text (tessera_prefix_cache_*: lookups,
// hits, cached tokens, waits, rebuilds, rebuild failures as counters; entries
// and the rebuild queue as gauges; per worker: entries, lookups, hits, rebuilds).
std::string prefix_cache_metrics_text(const prefix_cache_view& v);

}  // namespace tessera::actors
