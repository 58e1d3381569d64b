// Subset DP (docs/planner.md "Position-dependent pools"): exact over every
// ordered subset and cut, O(2^m * m * n^2), for small pools whose stage costs
// depend on position (cached weights, uneven layers).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "planner/partition_detail.hpp"

namespace tessera::planner::detail {

bool subset_dp_affordable(int n, int m) {
  if (m > 12) return false;
  return (1.0 * (1u << m)) * m * n * n <= 2e7;
}

std::vector<assignment> subset_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                  const planner_options& options, double* best_value, double stage_cap) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  const cost_model cm(model, options);
  std::vector<std::vector<double>> tables;
  for (const auto& w : workers) tables.push_back(cm.stage_table(w));
  const auto N1 = static_cast<size_t>(n + 1);
  const size_t masks = size_t{1} << m;
  // dp[mask * N1 + j]: best cover of [0, j) by exactly the workers in mask.
  std::vector<double> dp(masks * N1, inf);
  std::vector<int32_t> from(dp.size(), -1);  // packs previous cut i * 64 + worker k
  dp[0] = 0;
  for (size_t mask = 0; mask < masks; ++mask) {
    for (int i = 0; i < n; ++i) {
      const double v = dp[mask * N1 + static_cast<size_t>(i)];
      if (v == inf) continue;
      for (int k = 0; k < m; ++k) {
        if (mask & (size_t{1} << k)) continue;
        const size_t next_mask = mask | (size_t{1} << k);
        const double* row = &tables[static_cast<size_t>(k)][static_cast<size_t>(i) * N1];
        for (int j = i + 1; j <= n; ++j) {
          const double c = row[j];
          if (c == inf || c > stage_cap) continue;
          const double value = combine(options.goal, v, c);
          double& slot = dp[next_mask * N1 + static_cast<size_t>(j)];
          if (value < slot) {
            slot = value;
            from[next_mask * N1 + static_cast<size_t>(j)] = i * 64 + k;
          }
        }
      }
    }
  }
  double best = inf;
  size_t best_mask = 0;
  for (size_t mask = 1; mask < masks; ++mask) {
    const double v = dp[mask * N1 + static_cast<size_t>(n)];
    if (v < best) {
      best = v;
      best_mask = mask;
    }
  }
  if (best_value) *best_value = best;
  if (best == inf) return {};
  std::vector<assignment> out;
  size_t mask = best_mask;
  int j = n;
  while (j > 0) {
    const int32_t f = from[mask * N1 + static_cast<size_t>(j)];
    const int i = f / 64, k = f % 64;
    out.push_back({k, {i, j}});
    mask &= ~(size_t{1} << k);
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace tessera::planner::detail
