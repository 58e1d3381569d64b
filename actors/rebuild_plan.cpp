#include "actors/rebuild_plan.hpp"

#include <algorithm>

namespace tessera::actors {

bool same_kv(const hop_key& a, const hop_key& b) {
  return a.worker_id == b.worker_id && a.shard_id == b.shard_id && a.load_epoch == b.load_epoch;
}

bool same_kv(const std::vector<hop_key>& a, const std::vector<hop_key>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const hop_key& x, const hop_key& y) { return same_kv(x, y); });
}

std::vector<rebuild_run> plan_rebuild(const std::vector<hop_key>& now, const std::vector<hop_key>& before,
                                      const std::function<bool(uint32_t layer_begin)>& inputs_kept) {
  auto n = static_cast<uint32_t>(now.size());
  auto changed = [&](uint32_t j) { return j >= before.size() || !same_kv(now[j], before[j]); };
  auto fed = [&](uint32_t j) { return j == 0 || inputs_kept(now[j].layer_begin); };
  std::vector<rebuild_run> runs;
  for (uint32_t j = 0; j < n; ++j) {
    if (!changed(j))
      continue;
    uint32_t end = j + 1;
    while (end < n && changed(end))
      ++end;
    runs.push_back({j, end});
    j = end - 1;
  }
  if (runs.empty())
    return {};
  if (!std::all_of(runs.begin(), runs.end(), [&](const rebuild_run& r) { return fed(r.first); })) {
    if (!fed(runs.front().first))
      return {};
    runs = {{runs.front().first, n}};
  }
  if (runs.size() == 1 && runs.front().first == 0 && runs.front().end == n)
    return {};
  return runs;
}

}  // namespace tessera::actors
