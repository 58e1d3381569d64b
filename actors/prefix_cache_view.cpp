#include "actors/prefix_cache_view.hpp"

#include <nlohmann/json.hpp>

#include "actors/metrics.hpp"

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

std::string prefix_cache_metrics_text(const prefix_cache_view& v) {
  auto one = [](uint64_t x) { return metric_samples{{{}, static_cast<double>(x)}}; };
  metric_samples entries, lookups, hits, rebuilds;
  for (auto& [id, w] : v.workers) {
    const metric_labels labels = {{"worker", std::to_string(id)}};
    entries.push_back({labels, static_cast<double>(w.index.entries)});
    lookups.push_back({labels, static_cast<double>(w.index.lookups)});
    hits.push_back({labels, static_cast<double>(w.index.hits)});
    rebuilds.push_back({labels, static_cast<double>(w.rebuilds)});
  }
  const char* c = "counter";
  const char* g = "gauge";
  return render_family("tessera_prefix_cache_entries", "Prefixes the index holds (all stages).", g, one(v.index.entries)) +
         render_family("tessera_prefix_cache_lookups_total", "Prefix lookups by requests.", c, one(v.index.lookups)) +
         render_family("tessera_prefix_cache_hits_total", "Lookups that forked at least one cached block.", c,
                       one(v.index.hits)) +
         render_family("tessera_prefix_cache_cached_tokens_total", "Prompt positions forked instead of computed.", c,
                       one(v.index.cached_tokens)) +
         render_family("tessera_prefix_cache_waits_total", "Lookups that waited for another request's prefill.", c,
                       one(v.index.waits)) +
         render_family("tessera_prefix_cache_rebuilds_total", "Lost prefixes rebuilt on a new plan in the background.",
                       c, one(v.rebuilds)) +
         render_family("tessera_prefix_cache_rebuild_failures_total", "Background rebuilds that failed.", c,
                       one(v.rebuild_failures)) +
         render_family("tessera_prefix_cache_rebuild_queue", "Prefixes waiting to be rebuilt.", g, one(v.rebuild_queue)) +
         render_family("tessera_prefix_cache_worker_entries", "Index entries on a worker.", g, entries) +
         render_family("tessera_prefix_cache_worker_lookups_total", "Lookups of routes through a worker.", c, lookups) +
         render_family("tessera_prefix_cache_worker_hits_total", "Hits on routes through a worker.", c, hits) +
         render_family("tessera_prefix_cache_worker_rebuilds_total", "Prefixes rebuilt onto a worker.", c, rebuilds);
}

}  // namespace tessera::actors
