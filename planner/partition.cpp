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
  std::vector<assignment> best;
  if (position_free(model, workers)) {
    best = role_dp(model, workers, options);
  } else if (subset_dp_affordable(n, m)) {
    best = subset_dp(model, workers, options, nullptr);
  } else {
    auto orders = candidate_orders(model, workers, options);
    orders.insert(orders.end(), extra_orders.begin(), extra_orders.end());
    best = order_search(model, workers, options, orders, 8);
  }
  if (best.empty()) return infeasible_plan(model, workers, options);
  return evaluate(model, workers, best, options);
}

}  // namespace detail
}  // namespace tessera::planner
