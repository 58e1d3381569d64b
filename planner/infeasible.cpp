// Why no plan fits: a reason a user can act on ("the pool lacks 3.2 GB; the
// largest worker holds at most 5 of 32 layers").
#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/partition_detail.hpp"

namespace tessera::planner::detail {

plan infeasible_plan(const model_profile& model, const std::vector<worker_profile>& workers,
                     const planner_options& options) {
  plan p;
  p.goal = options.goal;
  p.feasible = false;
  p.predicted_ms_per_token = p.latency_ms_per_token = p.bottleneck_ms = std::numeric_limits<double>::infinity();
  const int n = model.num_layers();
  if (n == 0) {
    p.reason = "the model has no layers";
    return p;
  }
  if (workers.empty()) {
    p.reason = "the pool is empty: no workers to place " + std::to_string(n) + " layers on";
    return p;
  }
  const cost_model cm(model, options);
  uint64_t pool = 0;
  for (const auto& w : workers) pool += w.memory_bytes;
  const uint64_t need = cm.memory_bytes({0, n});  // one stage holding everything: the least total need
  // The most layers any single worker can hold anywhere in the model.
  int most = 0;
  std::string most_id = workers.front().id;
  bool usable = false;
  for (const auto& w : workers) {
    if (cm.effective_flops_per_s(w) > 0 && w.download_bytes_per_s > 0 && w.upload_bytes_per_s > 0) usable = true;
    int best = 0;
    for (int i = 0; i < n && best < n - i; ++i) {
      int j = i;
      while (j < n && cm.fits(w, {i, j + 1})) ++j;
      best = std::max(best, j - i);
    }
    if (best > most) {
      most = best;
      most_id = w.id;
    }
  }
  const std::string holds = "the largest worker (" + most_id + ") holds at most " + std::to_string(most) +
                            " of " + std::to_string(n) + " layers";
  if (!usable) {
    p.reason = "no worker has a usable speed and link (flops_per_s / bandwidth are zero)";
  } else if (pool < need) {
    p.reason = "the pool lacks " + format_bytes(need - pool) + " (needs at least " + format_bytes(need) +
               " for weights, KV of " + std::to_string(options.context_tokens) + " tokens x " +
               std::to_string(options.concurrent_sequences) + " sequences and scratch; has " +
               format_bytes(pool) + "); " + holds;
  } else if (most == 0) {
    p.reason = "no worker can hold even one layer (a stage needs at least " +
               format_bytes(cm.memory_bytes({std::max(0, n / 2), std::max(0, n / 2) + 1})) + "); " + holds;
  } else {
    bool first_fits = false, last_fits = false;
    for (const auto& w : workers) {
      first_fits = first_fits || cm.fits(w, {0, 1});
      last_fits = last_fits || cm.fits(w, {n - 1, n});
    }
    if (!first_fits)
      p.reason = "no worker can hold the first stage (embedding + layer 0 need " + format_bytes(cm.memory_bytes({0, 1})) + ")";
    else if (!last_fits)
      p.reason = "no worker can hold the last stage (layer " + std::to_string(n - 1) + " + head need " +
                 format_bytes(cm.memory_bytes({n - 1, n})) + ")";
    else
      p.reason = "the workers cannot be combined to cover all " + std::to_string(n) +
                 " layers within memory (every stage also needs " + format_bytes(options.scratch_bytes) +
                 " scratch and the prelude); " + holds;
  }
  return p;
}

}  // namespace tessera::planner::detail
