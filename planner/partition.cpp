// partition(): picks the DP that fits the pool (docs/planner.md "Algorithms").
//   position-free pool              -> role DP (exact, O(n^2 m))
//   small position-dependent pool   -> subset DP (exact)
//   larger position-dependent pool  -> order DP over candidate orders + swap search

#include "planner/partition_detail.hpp"

namespace tessera::planner {

plan partition_in_order(const model_profile& model, const std::vector<worker_profile>& workers,
                        const std::vector<int>& order, const planner_options& options) {
  for (int k : order)
    if (k < 0 || k >= static_cast<int>(workers.size())) {
      plan p;
      p.goal = options.goal;
      p.reason = "order refers to worker index " + std::to_string(k) + " outside the pool";
      p.predicted_ms_per_token = detail::inf;
      return p;
    }
  const auto stages = detail::order_dp(model, workers, order, options, nullptr);
  if (stages.empty()) return detail::infeasible_plan(model, workers, options);
  return evaluate(model, workers, stages, options);
}

plan partition(const model_profile& model, const std::vector<worker_profile>& workers,
               const planner_options& options) {
  return detail::partition_with_orders(model, workers, options, {});
}

namespace detail {

plan partition_with_orders(const model_profile& model, const std::vector<worker_profile>& workers,
                           const planner_options& options, const std::vector<std::vector<int>>& extra_orders) {
  if (model.layers.empty() || workers.empty()) return infeasible_plan(model, workers, options);
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  const bool free = position_free(model, workers);
  const bool small = subset_dp_affordable(n, m);
  auto solve = [&](const planner_options& o, double cap, const std::vector<std::vector<int>>& more) {
    if (free) return role_dp(model, workers, o, cap);
    if (small) return subset_dp(model, workers, o, nullptr, cap);
    auto orders = candidate_orders(model, workers, o);
    orders.insert(orders.end(), more.begin(), more.end());
    return order_search(model, workers, o, orders, 8, cap);
  };
  std::vector<assignment> best = solve(options, inf, extra_orders);
  if (best.empty()) return infeasible_plan(model, workers, options);
  plan result = evaluate(model, workers, best, options);
  if (options.goal == objective::throughput && result.feasible) {
    // Among plans with the optimal bottleneck, take the one with the least
    // latency: a latency pass that may not use stages slower than the bottleneck.
    planner_options latency = options;
    latency.goal = objective::latency;
    const double cap = result.bottleneck_ms * (1 + 1e-12);
    std::vector<std::vector<int>> more = extra_orders;
    std::vector<int> order;
    std::vector<char> used(workers.size(), 0);
    for (const auto& a : best) order.push_back(a.worker_index), used[static_cast<size_t>(a.worker_index)] = 1;
    for (int k = 0; k < m; ++k)
      if (!used[static_cast<size_t>(k)]) order.push_back(k);
    more.push_back(order);
    const auto refined = solve(latency, cap, more);
    if (!refined.empty()) {
      plan r = evaluate(model, workers, refined, options);
      if (r.feasible && r.bottleneck_ms <= cap && r.latency_ms_per_token <= result.latency_ms_per_token) result = r;
    }
  }
  return result;
}

}  // namespace detail
}  // namespace tessera::planner
