// Which stages of a new route must get their KV rebuilt after a request left
// its old route, and from what. Pure: no CAF, no actors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::actors {

// What identifies the KV a stage holds: the same worker with the same shard at
// the same load epoch (a worker drops its KV when it switches shards).
struct hop_key {
  uint64_t worker_id = 0;
  std::string shard_id;
  uint32_t load_epoch = 0;
  uint32_t layer_begin = 0;  // the boundary whose kept inputs can feed this hop
};

bool same_kv(const hop_key& a, const hop_key& b);
// Same length and same_kv hop by hop.
bool same_kv(const std::vector<hop_key>& a, const std::vector<hop_key>& b);

// Hops [first, end) of the new route, rebuilt by one step.
struct rebuild_run {
  uint32_t first = 0;
  uint32_t end = 0;
  bool operator==(const rebuild_run& o) const { return first == o.first && end == o.end; }
};

// Plans the rebuild on route `now`; every stage of `before` held the same
// positions. A hop equal (same_kv) to before's hop at the same index keeps its
// KV. Each run of changed hops is rebuilt on its own when its first hop can be
// fed: hop 0 from the tokens, any other when `inputs_kept(layer_begin)`; if some
// run cannot be fed, one run goes from the first changed hop to the end (when
// that one can be fed). Empty: re-run everything from the tokens instead (no
// hop changed, nothing kept helps, or the only run is the whole route).
std::vector<rebuild_run> plan_rebuild(const std::vector<hop_key>& now, const std::vector<hop_key>& before,
                                      const std::function<bool(uint32_t layer_begin)>& inputs_kept);

}  // namespace tessera::actors
