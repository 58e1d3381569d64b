// Random planner instances for property tests and benchmarks (fixed seeds).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <cstdint>
#include <random>
#include <vector>

#include "planner/planner.hpp"

namespace tessera::planner::testing {

struct instance {
  model_profile model;
  std::vector<worker_profile> workers;
  planner_options options;
};

struct instance_shape {
  int max_layers = 8;
  int max_workers = 5;
  bool uniform_layers = true;   // false: every layer gets its own sizes
  bool with_caches = false;     // workers hold random cached ranges
};

inline instance random_instance(std::mt19937_64& rng, const instance_shape& shape) {
  auto uni = [&rng](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto log_uni = [&](double lo, double hi) { return std::exp(uni(std::log(lo), std::log(hi))); };
  instance in;
  const int n = pick(1, shape.max_layers);
  const int m = pick(1, shape.max_workers);
  layer_profile base;
  base.param_bytes = static_cast<uint64_t>(log_uni(1e6, 4e8));
  base.flops_per_token = base.param_bytes;  // fp16: 2 FLOPs per 2-byte weight
  base.kv_bytes_per_token = static_cast<uint64_t>(log_uni(1e3, 2e5));
  base.boundary_bytes_per_token = static_cast<uint64_t>(log_uni(1e3, 5e4));
  for (int l = 0; l < n; ++l) {
    layer_profile layer = base;
    if (!shape.uniform_layers) {
      layer.param_bytes = static_cast<uint64_t>(base.param_bytes * uni(0.5, 1.5));
      layer.flops_per_token = static_cast<uint64_t>(base.flops_per_token * uni(0.5, 1.5));
      layer.kv_bytes_per_token = static_cast<uint64_t>(base.kv_bytes_per_token * uni(0.5, 1.5));
      layer.boundary_bytes_per_token = static_cast<uint64_t>(base.boundary_bytes_per_token * uni(0.5, 1.5));
    }
    in.model.layers.push_back(layer);
  }
  // The last layer's outgoing boundary (into the head) never crosses a link.
  if (pick(0, 3) == 0) in.model.layers.back().boundary_bytes_per_token = static_cast<uint64_t>(log_uni(1e3, 5e4));
  in.model.embed_param_bytes = static_cast<uint64_t>(base.param_bytes * uni(0, 3));
  in.model.head_param_bytes = static_cast<uint64_t>(base.param_bytes * uni(0, 3));
  in.model.prelude_param_bytes = static_cast<uint64_t>(log_uni(1e3, 1e6));
  in.model.embed_flops_per_token = 0;
  in.model.head_flops_per_token = static_cast<uint64_t>(in.model.head_param_bytes);
  in.options.goal = objective::latency;
  in.options.context_tokens = static_cast<uint64_t>(pick(1, 4096));
  in.options.concurrent_sequences = static_cast<uint64_t>(pick(1, 4));
  in.options.scratch_bytes = static_cast<uint64_t>(log_uni(1e5, 1e8));
  in.options.load_horizon_tokens = pick(0, 3) == 0 ? 0.0 : log_uni(10, 1e5);
  const cost_model cm(in.model, in.options);
  // Memories scaled so that a fifth of the instances or so cannot be served at all.
  const double need = static_cast<double>(cm.memory_bytes({0, n}));
  for (int k = 0; k < m; ++k) {
    worker_profile w;
    w.id = "w" + std::to_string(k);
    w.memory_bytes = static_cast<uint64_t>(need * log_uni(0.15, 2.5));
    w.flops_per_s = log_uni(1e9, 5e13);
    if (pick(0, 4) == 0) w.measured_layer_ms = log_uni(0.01, 50);
    w.rtt_ms = uni(0, 80);
    w.download_bytes_per_s = log_uni(1e5, 2e9);
    w.upload_bytes_per_s = log_uni(1e5, 2e9);
    if (shape.with_caches && pick(0, 1) == 0) {
      const int a = pick(0, n - 1);
      w.cached_layers.push_back({a, pick(a + 1, n)});
      if (pick(0, 3) == 0) {
        const int b = pick(0, n - 1);
        w.cached_layers.push_back({b, pick(b + 1, n)});
      }
    }
    in.workers.push_back(w);
  }
  return in;
}

}  // namespace tessera::planner::testing
