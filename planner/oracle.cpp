// Brute-force oracle for tests: every ordered subset of workers × every cut.
#include <algorithm>
#include <limits>

#include "planner/planner.hpp"

namespace tessera::planner {
namespace {

struct search {
  int n = 0, m = 0;
  objective goal = objective::latency;
  std::vector<std::vector<double>> table;  // table[k][i * (n + 1) + j]
  std::vector<assignment> path, best_path;
  std::vector<char> used;
  double best = std::numeric_limits<double>::infinity();
  double best_sum = std::numeric_limits<double>::infinity();

  void run(int at, double sum, double worst) {
    if (at == n) {
      const double value = goal == objective::latency ? sum : worst;
      if (value < best || (value == best && sum < best_sum)) {
        best = value;
        best_sum = sum;
        best_path = path;
      }
      return;
    }
    for (int k = 0; k < m; ++k) {
      if (used[static_cast<size_t>(k)]) continue;
      used[static_cast<size_t>(k)] = 1;
      for (int j = at + 1; j <= n; ++j) {
        const double c = table[static_cast<size_t>(k)][static_cast<size_t>(at) * static_cast<size_t>(n + 1) + static_cast<size_t>(j)];
        if (c == std::numeric_limits<double>::infinity()) continue;
        path.push_back({k, {at, j}});
        run(j, sum + c, std::max(worst, c));
        path.pop_back();
      }
      used[static_cast<size_t>(k)] = 0;
    }
  }
};

}  // namespace

plan brute_force_partition(const model_profile& model, const std::vector<worker_profile>& workers,
                           const planner_options& options) {
  search s;
  s.n = model.num_layers();
  s.m = static_cast<int>(workers.size());
  s.goal = options.goal;
  const cost_model cm(model, options);
  for (const auto& w : workers) s.table.push_back(cm.stage_table(w));
  s.used.assign(workers.size(), 0);
  if (s.n > 0) s.run(0, 0.0, 0.0);
  if (s.best_path.empty()) {
    plan p;
    p.goal = options.goal;
    p.feasible = false;
    p.reason = "no ordered subset of workers covers the model within memory";
    p.predicted_ms_per_token = std::numeric_limits<double>::infinity();
    return p;
  }
  return evaluate(model, workers, s.best_path, options);
}

}  // namespace tessera::planner
