// Who takes over a lost stage: idle workers stand by with a serving stage's
// shard loaded ahead (choose_standbys), and a lost stage's range goes to the
// worker already holding its shard, else to the smallest idle worker that fits
// (substitute), so the other stages keep their KV.
#include <algorithm>

#include "planner/decide.hpp"

namespace tessera::planner {

namespace {

worker_profile named(const pool_worker& w) {
  worker_profile p = w.profile;
  p.id = std::to_string(w.id);
  return p;
}

// Among the pool entries `free` allows: the first holding `shard` that fits
// `layers`, else (or when `shard` is empty) the first with the least memory
// that fits; -1 when none fits.
template <class Free>
int pick_worker(const cost_model& costs, const std::vector<pool_worker>& pool, const std::string& shard,
                layer_range layers, Free free) {
  int best = -1;
  for (size_t i = 0; i < pool.size() && !shard.empty(); ++i)
    if (free(i) && pool[i].shard == shard && costs.fits(pool[i].profile, layers))
      return static_cast<int>(i);
  for (size_t i = 0; i < pool.size(); ++i)
    if (free(i) && costs.fits(pool[i].profile, layers) &&
        (best < 0 || pool[i].profile.memory_bytes < pool[static_cast<size_t>(best)].profile.memory_bytes))
      best = static_cast<int>(i);
  return best;
}

}  // namespace

std::optional<plan> substitute(const model_profile& model, const std::vector<pool_worker>& pool,
                               const std::vector<placed_stage>& last_plan,
                               const std::vector<placed_stage>& last_served, const planner_options& options) {
  if (last_plan.empty())
    return std::nullopt;
  const cost_model costs(model, options);
  std::vector<assignment> stages;
  std::vector<bool> used(pool.size(), false);
  for (const auto& s : last_plan) {
    int index = -1;
    for (size_t i = 0; i < pool.size() && index < 0; ++i)
      if (pool[i].id == s.worker)
        index = static_cast<int>(i);
    if (index >= 0)
      used[static_cast<size_t>(index)] = true;
    stages.push_back({index, s.layers});
  }
  for (auto& a : stages) {
    if (a.worker_index >= 0)
      continue;
    std::string shard;
    for (const auto& s : last_served)
      if (s.layers == a.layers)
        shard = s.shard;
    int best = pick_worker(costs, pool, shard, a.layers, [&](size_t i) { return !used[i]; });
    if (best < 0)
      return std::nullopt;
    used[static_cast<size_t>(best)] = true;
    a.worker_index = best;
  }
  std::vector<worker_profile> profiles;
  for (const auto& w : pool)
    profiles.push_back(named(w));
  plan p = evaluate(model, profiles, stages, options);
  if (!p.feasible)
    return std::nullopt;
  return p;
}

std::vector<standby_choice> choose_standbys(const model_profile& model, const std::vector<pool_worker>& pool,
                                            const std::vector<placed_stage>& serving,
                                            const planner_options& options) {
  auto in_pool = [&](uint64_t id) {
    return std::find_if(pool.begin(), pool.end(), [&](const pool_worker& w) { return w.id == id; });
  };
  auto browser = [&](size_t stage) {
    auto it = in_pool(serving[stage].worker);
    return it != pool.end() && it->profile.kind == device_kind::browser;
  };
  std::vector<size_t> order(serving.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return browser(a) && !browser(b); });
  std::vector<bool> taken(pool.size(), false);
  for (size_t i = 0; i < pool.size(); ++i)
    taken[i] = std::any_of(serving.begin(), serving.end(), [&](const placed_stage& s) { return s.worker == pool[i].id; });
  const cost_model costs(model, options);
  std::vector<standby_choice> out;
  for (size_t stage : order) {
    const auto& s = serving[stage];
    int pick = pick_worker(costs, pool, s.shard, s.layers, [&](size_t i) { return !taken[i]; });
    if (pick < 0)
      continue;
    taken[static_cast<size_t>(pick)] = true;
    const auto& w = pool[static_cast<size_t>(pick)];
    out.push_back({w.id, stage, !s.shard.empty() && w.shard == s.shard});
  }
  return out;
}

}  // namespace tessera::planner
