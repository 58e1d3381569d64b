// Evaluating a given assignment, the two baselines, bytes to move, prefill.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "planner/planner.hpp"

namespace tessera::planner {

plan evaluate(const model_profile& model, const std::vector<worker_profile>& workers,
              const std::vector<assignment>& stages, const planner_options& options) {
  const cost_model cm(model, options);
  const int n = model.num_layers();
  plan p;
  p.goal = options.goal;
  p.feasible = true;
  auto fail = [&p](const std::string& why) {
    if (p.feasible) p.reason = why;
    p.feasible = false;
  };
  if (stages.empty()) fail("the plan has no stages");
  int next = 0;
  std::set<int> used;
  for (const assignment& a : stages) {
    stage s;
    s.worker_index = a.worker_index;
    s.layers = a.layers;
    if (a.worker_index < 0 || a.worker_index >= static_cast<int>(workers.size())) {
      fail("stage refers to worker index " + std::to_string(a.worker_index) + " outside the pool");
      p.stages.push_back(s);
      continue;
    }
    const worker_profile& w = workers[static_cast<size_t>(a.worker_index)];
    s.worker_id = w.id;
    s.memory_budget = w.memory_bytes;
    if (!used.insert(a.worker_index).second) fail("worker " + w.id + " serves two stages");
    if (a.layers.begin != next || a.layers.empty() || a.layers.end > n) {
      fail("stage of worker " + w.id + " covers layers [" + std::to_string(a.layers.begin) + ", " +
           std::to_string(a.layers.end) + ") but the next layer to cover is " + std::to_string(next));
      p.stages.push_back(s);
      next = std::max(next, std::min(a.layers.end, n));
      continue;
    }
    next = a.layers.end;
    s.memory_bytes = cm.memory_bytes(a.layers);
    s.load_bytes = cm.missing_bytes(w, a.layers);
    s.compute_ms = cm.compute_ms(w, a.layers);
    s.link_ms = cm.link_ms(w, a.layers);
    s.load_ms = cm.load_ms(w, a.layers);
    s.predicted_ms = s.compute_ms + s.link_ms + s.load_ms;
    if (!cm.fits(w, a.layers))
      fail("worker " + w.id + " needs " + format_bytes(s.memory_bytes) + " for layers [" +
           std::to_string(a.layers.begin) + ", " + std::to_string(a.layers.end) + ") but has " +
           format_bytes(w.memory_bytes));
    else if (!std::isfinite(s.predicted_ms))
      fail("worker " + w.id + " has no usable speed or bandwidth");
    p.stages.push_back(s);
  }
  if (p.feasible && next != n)
    fail("the stages cover layers [0, " + std::to_string(next) + ") of " + std::to_string(n));
  double sum = 0, worst = 0;
  for (const stage& s : p.stages) {
    sum += s.predicted_ms;
    worst = std::max(worst, s.predicted_ms);
  }
  p.latency_ms_per_token = sum;
  p.bottleneck_ms = worst;
  p.predicted_ms_per_token = options.goal == objective::latency ? sum : worst;
  return p;
}

uint64_t bytes_to_move(const model_profile& model, const std::vector<worker_profile>& workers,
                       const plan& p, const planner_options& options) {
  const cost_model cm(model, options);
  uint64_t total = 0;
  for (const stage& s : p.stages) {
    auto it = std::find_if(workers.begin(), workers.end(),
                           [&](const worker_profile& w) { return w.id == s.worker_id; });
    if (it != workers.end()) total += cm.missing_bytes(*it, s.layers);
  }
  return total;
}

namespace {
std::vector<assignment> from_counts(const std::vector<int>& worker_of_stage, const std::vector<int>& counts) {
  std::vector<assignment> out;
  int at = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] <= 0) continue;
    out.push_back({worker_of_stage[k], {at, at + counts[k]}});
    at += counts[k];
  }
  return out;
}

plan baseline_failure(const model_profile& model, const std::vector<worker_profile>& workers,
                      const planner_options& options) {
  plan p;
  p.goal = options.goal;
  p.feasible = false;
  p.reason = workers.empty() ? "the pool is empty" : "the model has no layers";
  p.predicted_ms_per_token = std::numeric_limits<double>::infinity();
  return p;
}
}  // namespace

plan equal_split(const model_profile& model, const std::vector<worker_profile>& workers,
                 const planner_options& options) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  if (n == 0 || m == 0) return baseline_failure(model, workers, options);
  const int s = std::min(n, m);
  std::vector<int> who(static_cast<size_t>(s)), counts(static_cast<size_t>(s));
  for (int k = 0; k < s; ++k) {
    who[static_cast<size_t>(k)] = k;
    counts[static_cast<size_t>(k)] = n / s + (k < n % s ? 1 : 0);
  }
  return evaluate(model, workers, from_counts(who, counts), options);
}

plan memory_proportional(const model_profile& model, const std::vector<worker_profile>& workers,
                         const planner_options& options) {
  const int n = model.num_layers();
  const size_t m = workers.size();
  if (n == 0 || m == 0) return baseline_failure(model, workers, options);
  long double total = 0;
  for (const auto& w : workers) total += static_cast<long double>(w.memory_bytes);
  std::vector<int> who(m), counts(m, 0);
  std::vector<std::pair<long double, size_t>> remainders;
  int given = 0;
  for (size_t k = 0; k < m; ++k) {
    who[k] = static_cast<int>(k);
    const long double share = total > 0 ? n * static_cast<long double>(workers[k].memory_bytes) / total
                                        : static_cast<long double>(n) / m;
    counts[k] = static_cast<int>(std::floor(share));
    given += counts[k];
    remainders.push_back({share - counts[k], k});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t r = 0; given < n; ++r, ++given) counts[remainders[r % m].second] += 1;
  return evaluate(model, workers, from_counts(who, counts), options);
}

double predict_prefill_ms(const model_profile& model, const std::vector<worker_profile>& workers,
                          const plan& p, uint64_t prompt_tokens, const planner_options& options) {
  const cost_model cm(model, options);
  double total = 0;
  for (const stage& s : p.stages) {
    if (s.worker_index < 0 || s.worker_index >= static_cast<int>(workers.size()))
      return std::numeric_limits<double>::infinity();
    total += cm.prefill_stage_ms(workers[static_cast<size_t>(s.worker_index)], s.layers, prompt_tokens);
  }
  return total;
}

}  // namespace tessera::planner
