// The ordered-partition DPs (docs/planner.md "Algorithms").
//
// role DP (position-free costs: uniform layers, no cached weights): a stage's
// cost depends only on its worker, its length and its role (first / middle /
// last / only), so stages can be arranged in any order once chosen. State:
// (workers considered k, layers covered L, roles placed f) -> best objective.
// O(m * n * n * 4); exact over every worker subset, order and cut.
//
// order DP (general costs): workers in one fixed order, each used for the next
// contiguous range or skipped. State: (workers considered k, layers covered j).
// O(m * n^2); exact over every subset and cut for that order. partition() runs
// it for several candidate orders and keeps the best.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "planner/partition_detail.hpp"
#include "planner/planner.hpp"

namespace tessera::planner {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

double combine(objective goal, double acc, double stage_cost) {
  return goal == objective::latency ? acc + stage_cost : std::max(acc, stage_cost);
}

enum role : int { middle = 0, first = 1, last = 2, only = 3 };
constexpr int kSkip = 7;

layer_range role_range(int role_id, int len, int n) {
  switch (role_id) {
    case first: return {0, len};
    case last: return {n - len, n};
    case only: return {0, n};
    default: return {1, 1 + len};
  }
}

}  // namespace

namespace detail {

bool position_free(const model_profile& model, const std::vector<worker_profile>& workers) {
  // The last layer's boundary never crosses a link (the last stage returns a token id).
  const layer_profile& a = model.layers.front();
  for (size_t l = 0; l < model.layers.size(); ++l) {
    const layer_profile& b = model.layers[l];
    if (a.param_bytes != b.param_bytes || a.flops_per_token != b.flops_per_token ||
        a.kv_bytes_per_token != b.kv_bytes_per_token)
      return false;
    if (l + 1 < model.layers.size() && a.boundary_bytes_per_token != b.boundary_bytes_per_token) return false;
  }
  for (const auto& w : workers)
    for (const auto& c : w.cached_layers)
      if (!c.empty()) return false;
  return true;
}

// Returns the stages in pipeline order, or an empty vector when nothing fits.
std::vector<assignment> role_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                const planner_options& options) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  const cost_model cm(model, options);
  const objective goal = options.goal;
  // cost[(k * 4 + role) * (n + 1) + len]
  const auto N1 = static_cast<size_t>(n + 1);
  std::vector<double> cost(static_cast<size_t>(m) * 4 * N1, inf);
  for (int k = 0; k < m; ++k) {
    const worker_profile& w = workers[static_cast<size_t>(k)];
    auto at = [&](int r, int len) -> double& { return cost[(static_cast<size_t>(k) * 4 + r) * N1 + len]; };
    at(only, n) = cm.stage_ms(w, role_range(only, n, n));
    // Costs are infinite from the first length that does not fit on (memory grows with length).
    for (int r : {first, last, middle}) {
      const int longest = r == middle ? n - 2 : n - 1;
      for (int len = 1; len <= longest; ++len)
        if ((at(r, len) = cm.stage_ms(w, role_range(r, len, n))) == inf) break;
    }
  }
  // dp[(k * (n + 1) + L) * 4 + f], choice packs len * 8 + role (kSkip for skip).
  const size_t layer_states = N1 * 4;
  std::vector<double> dp(static_cast<size_t>(m + 1) * layer_states, inf);
  std::vector<int32_t> choice(dp.size(), -1);
  dp[0] = 0;
  for (int k = 0; k < m; ++k) {
    const double* cur = &dp[static_cast<size_t>(k) * layer_states];
    double* nxt = &dp[static_cast<size_t>(k + 1) * layer_states];
    int32_t* nch = &choice[static_cast<size_t>(k + 1) * layer_states];
    const double* ck = &cost[static_cast<size_t>(k) * 4 * N1];
    for (int L = 0; L <= n; ++L) {
      for (int f = 0; f < 4; ++f) {
        const double v = cur[L * 4 + f];
        if (v == inf) continue;
        auto relax = [&](int L2, int f2, double value, int32_t ch) {
          double& slot = nxt[L2 * 4 + f2];
          if (value < slot) {
            slot = value;
            nch[L2 * 4 + f2] = ch;
          }
        };
        relax(L, f, v, kSkip);
        const int room = n - L;
        for (int r = 0; r < 4; ++r) {
          const int bit = r == only ? 3 : r;
          if (r == only && (f != 0 || L != 0)) continue;
          if (r != middle && r != only && (f & bit)) continue;
          const double* row = ck + static_cast<size_t>(r) * N1;
          const int lo = r == only ? n : 1;
          for (int len = lo; len <= room; ++len) {
            const double c = row[len];
            if (c == inf) break;  // longer ranges need more memory: infinite too
            relax(L + len, f | bit, combine(goal, v, c), len * 8 + r);
          }
        }
      }
    }
  }
  if (dp[static_cast<size_t>(m) * layer_states + static_cast<size_t>(n) * 4 + 3] == inf) return {};
  // Walk back: which worker took which role and length.
  int first_worker = -1, first_len = 0, last_worker = -1, last_len = 0;
  std::vector<std::pair<int, int>> middles;  // (worker, len)
  int L = n, f = 3;
  for (int k = m; k > 0; --k) {
    const int32_t ch = choice[static_cast<size_t>(k) * layer_states + static_cast<size_t>(L) * 4 + static_cast<size_t>(f)];
    if (ch == kSkip) continue;
    const int r = ch % 8, len = ch / 8;
    const int w = k - 1;
    if (r == only || r == first) { first_worker = w; first_len = len; }
    if (r == last) { last_worker = w; last_len = len; }
    if (r == middle) middles.push_back({w, len});
    L -= len;
    if (r != middle) f &= ~(r == only ? 3 : r);
  }
  std::vector<assignment> out;
  int at = 0;
  out.push_back({first_worker, {0, first_len}});
  at = first_len;
  std::reverse(middles.begin(), middles.end());
  for (const auto& [w, len] : middles) {
    out.push_back({w, {at, at + len}});
    at += len;
  }
  if (last_worker >= 0) out.push_back({last_worker, {at, at + last_len}});
  return out;
}

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
                                        double* best_value) {
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

std::vector<assignment> order_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                 const std::vector<int>& order, const planner_options& options,
                                 double* best_value) {
  table_source tables(model, workers, options, false);
  return order_dp_tables(tables, model.num_layers(), order, options.goal, best_value);
}

bool subset_dp_affordable(int n, int m) {
  if (m > 12) return false;
  return (1.0 * (1u << m)) * m * n * n <= 2e7;
}

std::vector<assignment> subset_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                  const planner_options& options, double* best_value) {
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
          if (c == inf) continue;
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

std::vector<assignment> order_search(const model_profile& model, const std::vector<worker_profile>& workers,
                                     const planner_options& options, std::vector<std::vector<int>> orders,
                                     int max_rounds) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  table_source tables(model, workers, options, true);
  double best_value = inf;
  std::vector<assignment> best;
  std::vector<int> best_order;
  for (const auto& order : orders) {
    double value = inf;
    auto stages = order_dp_tables(tables, n, order, options.goal, &value);
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
        auto stages = order_dp_tables(tables, n, order, options.goal, &value);
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

}  // namespace detail

plan partition_in_order(const model_profile& model, const std::vector<worker_profile>& workers,
                        const std::vector<int>& order, const planner_options& options) {
  for (int k : order)
    if (k < 0 || k >= static_cast<int>(workers.size())) {
      plan p;
      p.goal = options.goal;
      p.reason = "order refers to worker index " + std::to_string(k) + " outside the pool";
      p.predicted_ms_per_token = inf;
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
