#include "actors/prefix_cache_view.hpp"

#include <nlohmann/json.hpp>

namespace tessera::actors {

namespace {

double rate(uint64_t hits, uint64_t lookups) { return lookups ? static_cast<double>(hits) / lookups : 0.0; }

}  // namespace

nlohmann::json prefix_cache_json(const prefix_cache_view& v) {
  return {{"enabled", v.enabled},
          {"block_tokens", v.block_tokens},
          {"entries", v.index.entries},
          {"lookups", v.index.lookups},
          {"hits", v.index.hits},
          {"hit_rate", rate(v.index.hits, v.index.lookups)},
          {"cached_tokens", v.index.cached_tokens},
          {"waits", v.index.waits},
          {"rebuilds", v.rebuilds},
          {"rebuild_failures", v.rebuild_failures},
          {"rebuild_queue", v.rebuild_queue}};
}

nlohmann::json worker_cache_json(uint64_t worker_id, const worker_cache_counts& c, const prefix_cache_view* view) {
  nlohmann::json j = {{"kv_bytes", c.kv_bytes},
                      {"kv_budget", c.kv_budget},
                      {"cached_sequences", c.cached_sequences},
                      {"cached_bytes", c.cached_bytes},
                      {"evictions", c.evictions}};
  if (view) {
    prefix_cache_worker_view w;
    if (auto it = view->workers.find(worker_id); it != view->workers.end())
      w = it->second;
    j["entries"] = w.index.entries;
    j["lookups"] = w.index.lookups;
    j["hits"] = w.index.hits;
    j["hit_rate"] = rate(w.index.hits, w.index.lookups);
    j["rebuilds"] = w.rebuilds;
  }
  return j;
}

}  // namespace tessera::actors
