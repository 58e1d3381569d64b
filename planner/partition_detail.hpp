// Internals of planner/ shared between its .cpp files and its tests. Not part
// of the public interface (planner.hpp is).
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "planner/planner.hpp"

namespace tessera::planner::detail {

constexpr double inf = std::numeric_limits<double>::infinity();

// The objective's way of adding a stage: sum (latency) or max (throughput).
inline double combine(objective goal, double acc, double stage_cost) {
  return goal == objective::latency ? acc + stage_cost : std::max(acc, stage_cost);
}

// True when a stage's cost depends only on worker, length and role: every
// layer has the same profile (the last layer's outgoing boundary aside, it
// never crosses a link) and no worker holds cached weights.
bool position_free(const model_profile& model, const std::vector<worker_profile>& workers);

// Role DP (position-free costs only). Stages in pipeline order; empty when nothing fits.
// Every DP takes `stage_cap`: stages costing more are not used (the second,
// latency pass of the throughput objective; infinity = no cap).
std::vector<assignment> role_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                const planner_options& options, double stage_cap = inf);

// Order DP for one worker order. Stages in pipeline order; empty when nothing
// fits. *best_value (if given) receives the DP's objective value.
std::vector<assignment> order_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                 const std::vector<int>& order, const planner_options& options,
                                 double* best_value);

// Exact DP over (set of workers used, layers covered): O(2^m m n^2). For
// small pools with position-dependent costs.
bool subset_dp_affordable(int n, int m);
std::vector<assignment> subset_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                  const planner_options& options, double* best_value, double stage_cap = inf);

// Best order DP over `orders`, then up to max_rounds of pairwise-swap local search.
std::vector<assignment> order_search(const model_profile& model, const std::vector<worker_profile>& workers,
                                     const planner_options& options, std::vector<std::vector<int>> orders,
                                     int max_rounds, double stage_cap = inf);

// The worker orders partition() tries when costs depend on position.
std::vector<std::vector<int>> candidate_orders(const model_profile& model,
                                               const std::vector<worker_profile>& workers,
                                               const planner_options& options);

plan partition_with_orders(const model_profile& model, const std::vector<worker_profile>& workers,
                           const planner_options& options, const std::vector<std::vector<int>>& extra_orders);

// An infeasible plan whose reason says what the pool lacks.
plan infeasible_plan(const model_profile& model, const std::vector<worker_profile>& workers,
                     const planner_options& options);

}  // namespace tessera::planner::detail
