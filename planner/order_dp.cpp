// Order DP (docs/planner.md "Order DP"): workers in one fixed order, each
// used for the next contiguous range or skipped. State: (workers considered k,
// layers covered j). O(m * n^2); exact over every subset and cut for that
// order. For position-dependent pools partition() runs it over several
// candidate orders plus a bounded swap search.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "planner/partition_detail.hpp"

namespace tessera::planner::detail {
namespace {

// Stage-cost tables of the workers. A single DP computes each table once, on
// the fly; the order search reuses them and keeps them when they fit in ~16 MB.
class table_source {
public:
  table_source(const model_profile& model, const std::vector<worker_profile>& workers, const planner_options& options,
               bool reuse)
      : cm_(model, options), workers_(workers) {
    const double entries = static_cast<double>(workers.size()) * (model.num_layers() + 1) * (model.num_layers() + 1);
    keep_ = reuse && entries <= 2e6;
    if (keep_) cache_.resize(workers.size());
  }
  const std::vector<double>& get(int k) {
    if (!keep_) {
      cm_.stage_table_into(workers_[static_cast<size_t>(k)], scratch_);
      return scratch_;
    }
    auto& t = cache_[static_cast<size_t>(k)];
    if (t.empty()) cm_.stage_table_into(workers_[static_cast<size_t>(k)], t);
    return t;
  }

private:
  cost_model cm_;
  const std::vector<worker_profile>& workers_;
  bool keep_ = false;
  std::vector<std::vector<double>> cache_;
  std::vector<double> scratch_;
};

std::vector<assignment> order_dp_tables(table_source& tables, int n, const std::vector<int>& order, objective goal,
                                        double* best_value, double stage_cap = inf) {
  const int m = static_cast<int>(order.size());
  const auto N1 = static_cast<size_t>(n + 1);
  std::vector<double> dp(static_cast<size_t>(m + 1) * N1, inf);
  std::vector<int32_t> from(dp.size(), -1);  // previous cut i, or -2 for skip
  dp[0] = 0;
  for (int k = 0; k < m; ++k) {
    const std::vector<double>& table = tables.get(order[static_cast<size_t>(k)]);
    const double* cur = &dp[static_cast<size_t>(k) * N1];
    double* nxt = &dp[static_cast<size_t>(k + 1) * N1];
    int32_t* nfrom = &from[static_cast<size_t>(k + 1) * N1];
    for (int j = 0; j <= n; ++j) {
      nxt[j] = cur[j];
      nfrom[j] = -2;
    }
    for (int i = 0; i < n; ++i) {
      const double v = cur[i];
      if (v == inf) continue;
      const double* row = &table[static_cast<size_t>(i) * N1];
      for (int j = i + 1; j <= n; ++j) {
        const double c = row[j];
        if (c == inf) break;  // longer ranges need more memory: infinite too
        if (c > stage_cap) continue;
        const double value = goal == objective::latency ? v + c : std::max(v, c);
        if (value < nxt[j]) {
          nxt[j] = value;
          nfrom[j] = i;
        }
      }
    }
  }
  const double best = dp[static_cast<size_t>(m) * N1 + static_cast<size_t>(n)];
  if (best_value) *best_value = best;
  if (best == inf) return {};
  std::vector<assignment> out;
  int j = n;
  for (int k = m; k > 0 && j > 0; --k) {
    const int32_t i = from[static_cast<size_t>(k) * N1 + static_cast<size_t>(j)];
    if (i == -2) continue;
    out.push_back({order[static_cast<size_t>(k - 1)], {i, j}});
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<assignment> order_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                 const std::vector<int>& order, const planner_options& options,
                                 double* best_value) {
  table_source tables(model, workers, options, false);
  return order_dp_tables(tables, model.num_layers(), order, options.goal, best_value);
}

std::vector<assignment> order_search(const model_profile& model, const std::vector<worker_profile>& workers,
                                     const planner_options& options, std::vector<std::vector<int>> orders,
                                     int max_rounds, double stage_cap) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  table_source tables(model, workers, options, true);
  double best_value = inf;
  std::vector<assignment> best;
  std::vector<int> best_order;
  for (const auto& order : orders) {
    double value = inf;
    auto stages = order_dp_tables(tables, n, order, options.goal, &value, stage_cap);
    if (value < best_value) {
      best_value = value;
      best = std::move(stages);
      best_order = order;
    }
  }
  if (best_order.empty()) best_order = orders.front();
  // Local search: pipeline workers first, then swap pairs among the first few
  // positions while that improves the DP's value (at most kSwapBudget DPs).
  // The budget keeps the search near 2e7 DP relaxations (4 to 96 swaps).
  const double dp_work = 0.5 * n * n * m;
  int budget = static_cast<int>(std::max(4.0, std::min(96.0, 2e7 / std::max(1.0, dp_work))));
  for (int round = 0; round < max_rounds && budget > 0; ++round) {
    std::vector<int> order;
    std::vector<char> placed(static_cast<size_t>(m), 0);
    for (const auto& a : best) {
      order.push_back(a.worker_index);
      placed[static_cast<size_t>(a.worker_index)] = 1;
    }
    for (int k : best_order)
      if (!placed[static_cast<size_t>(k)]) order.push_back(k);
    const int window = std::min(m, static_cast<int>(best.size()) + 4);
    bool improved = false;
    for (int p = 0; p < window && !improved && budget > 0; ++p) {
      for (int q = p + 1; q < window && !improved && budget > 0; ++q, --budget) {
        std::swap(order[static_cast<size_t>(p)], order[static_cast<size_t>(q)]);
        double value = inf;
        auto stages = order_dp_tables(tables, n, order, options.goal, &value, stage_cap);
        if (value < best_value * (1 - 1e-12)) {
          best_value = value;
          best = std::move(stages);
          best_order = order;
          improved = true;
        } else {
          std::swap(order[static_cast<size_t>(p)], order[static_cast<size_t>(q)]);
        }
      }
    }
    if (!improved) break;
  }
  return best;
}

std::vector<std::vector<int>> candidate_orders(const model_profile& model,
                                               const std::vector<worker_profile>& workers,
                                               const planner_options& options) {
  const int m = static_cast<int>(workers.size());
  std::vector<int> input(static_cast<size_t>(m));
  std::iota(input.begin(), input.end(), 0);
  auto cache_start = [&](int k) {
    int s = std::numeric_limits<int>::max();
    for (const auto& c : workers[static_cast<size_t>(k)].cached_layers)
      if (!c.empty()) s = std::min(s, c.begin);
    return s;
  };
  auto by_memory = input;
  std::stable_sort(by_memory.begin(), by_memory.end(), [&](int a, int b) {
    return workers[static_cast<size_t>(a)].memory_bytes > workers[static_cast<size_t>(b)].memory_bytes;
  });
  // Cached workers by where their weights start; uncached ones (by memory) after or before them.
  std::vector<int> cached, uncached;
  for (int k : by_memory) (cache_start(k) == std::numeric_limits<int>::max() ? uncached : cached).push_back(k);
  std::stable_sort(cached.begin(), cached.end(), [&](int a, int b) { return cache_start(a) < cache_start(b); });
  std::vector<int> cached_first = cached, uncached_first = uncached;
  cached_first.insert(cached_first.end(), uncached.begin(), uncached.end());
  uncached_first.insert(uncached_first.end(), cached.begin(), cached.end());
  std::vector<std::vector<int>> orders = {input, by_memory, cached_first, uncached_first};
  // With uniform layers, the role DP without caches gives the best structure;
  // the order DP then re-cuts it with the caches counted.
  auto bare = workers;
  for (auto& w : bare) w.cached_layers.clear();
  if (!model.layers.empty() && position_free(model, bare)) {
    const auto shape = role_dp(model, bare, options);
    if (!shape.empty()) {
      std::vector<char> placed(static_cast<size_t>(m), 0);
      std::vector<int> order;
      order.push_back(shape.front().worker_index);
      placed[static_cast<size_t>(shape.front().worker_index)] = 1;
      std::vector<int> inner;
      for (size_t s = 1; s + 1 < shape.size(); ++s) inner.push_back(shape[s].worker_index);
      for (int k : cached)
        if (std::find(inner.begin(), inner.end(), k) == inner.end() &&
            (shape.size() < 2 || k != shape.back().worker_index) && k != shape.front().worker_index)
          inner.push_back(k);
      std::stable_sort(inner.begin(), inner.end(), [&](int a, int b) { return cache_start(a) < cache_start(b); });
      for (int k : inner) { order.push_back(k); placed[static_cast<size_t>(k)] = 1; }
      if (shape.size() >= 2) { order.push_back(shape.back().worker_index); placed[static_cast<size_t>(shape.back().worker_index)] = 1; }
      for (int k : by_memory)
        if (!placed[static_cast<size_t>(k)]) order.push_back(k);
      orders.push_back(order);
    }
  }
  return orders;
}

}  // namespace tessera::planner::detail
