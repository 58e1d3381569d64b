// Planner benchmarks (docs/benchmarks.md):
//  scaling  solve time for n = 32, 80, 128 layers x m = 4 ... 1024 workers, with
//           the ratio to the previous m (O(n^2 m): doubling m ~ doubles time)
//  quality  1,000 random heterogeneous pools (phones, laptops, desktop GPUs;
//           slow and fast links; partial caches): baseline / DP predicted
//           ms per token, median and worst, for both objectives.
// Usage: tessera_bench_planner [scaling|quality|all] [--pools N] [--seed S]
#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "planner/planner.hpp"

using namespace tessera::planner;

namespace {

// CPU time of this thread: robust when other processes share the cores.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// A Llama-style decoder in fp16: d_model, d_ff, kv dims, vocab.
model_profile llama_like(int layers, double d_model, double d_ff, double kv_dim, double vocab) {
  model_profile m;
  m.name = "llama-like-" + std::to_string(layers);
  const double params = 2 * d_model * d_model + 2 * d_model * kv_dim + 3 * d_model * d_ff;
  for (int l = 0; l < layers; ++l) {
    layer_profile p;
    p.param_bytes = static_cast<uint64_t>(params * 2);
    p.flops_per_token = static_cast<uint64_t>(params * 2);
    p.kv_bytes_per_token = static_cast<uint64_t>(2 * kv_dim * 2);
    p.boundary_bytes_per_token = static_cast<uint64_t>(d_model * 4);  // fp32 hidden state
    m.layers.push_back(p);
  }
  m.embed_param_bytes = static_cast<uint64_t>(vocab * d_model * 2);
  m.head_param_bytes = static_cast<uint64_t>(vocab * d_model * 2);
  m.head_flops_per_token = static_cast<uint64_t>(2 * vocab * d_model);
  m.prelude_param_bytes = 1 << 20;
  return m;
}

struct pool_maker {
  std::mt19937_64 rng;
  explicit pool_maker(uint64_t seed) : rng(seed) {}
  double uni(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  double log_uni(double lo, double hi) { return std::exp(uni(std::log(lo), std::log(hi))); }
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  // Device classes by effective decode FLOP/s (memory-bandwidth bound) and budget.
  worker_profile device(int index, int num_layers, double cache_probability, bool fast_links_only = false) {
    worker_profile w;
    w.id = "w" + std::to_string(index);
    const int kind = pick(0, 9);
    if (kind < 4) {
      w.kind = device_kind::phone;
      w.memory_bytes = static_cast<uint64_t>(uni(1.5e9, 5e9));
      w.flops_per_s = log_uni(3e10, 2e11);
    } else if (kind < 8) {
      w.kind = device_kind::laptop;
      w.memory_bytes = static_cast<uint64_t>(uni(4e9, 14e9));
      w.flops_per_s = log_uni(1.5e11, 8e11);
    } else {
      w.kind = device_kind::desktop_gpu;
      w.memory_bytes = static_cast<uint64_t>(uni(8e9, 22e9));
      w.flops_per_s = log_uni(2e12, 2e13);
    }
    const bool slow = pick(0, 1) == 0;
    if (slow && !fast_links_only) {  // slow link: home uplink / mobile
      w.rtt_ms = uni(20, 120);
      w.download_bytes_per_s = log_uni(2e6, 2e7);
      w.upload_bytes_per_s = w.download_bytes_per_s * uni(0.1, 0.5);
    } else {  // fast link: LAN / data centre
      w.rtt_ms = uni(0.5, 8);
      w.download_bytes_per_s = log_uni(5e7, 1.2e9);
      w.upload_bytes_per_s = w.download_bytes_per_s * uni(0.5, 1);
    }
    if (uni(0, 1) < cache_probability) {
      const int a = pick(0, num_layers - 1);
      w.cached_layers.push_back({a, std::min(num_layers, a + pick(1, 8))});
    }
    return w;
  }
};

template <typename F>
double median_ms(F&& solve, int reps) {
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const double t0 = thread_cpu_ms();
    solve();
    times.push_back(thread_cpu_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void scaling(uint64_t seed) {
  std::printf("## scaling: solve time (thread CPU ms, median of repeated runs), ratio to the previous m\n\n");
  std::printf("role DP = partition() on a pool without cached weights (uniform layers); order DP = one\n"
              "partition_in_order() (the O(n^2 m) DP any position-dependent plan uses per worker order).\n\n");
  std::printf("cached = partition() when 30%% of the workers hold cached layers (best of several worker orders\n"
              "plus a bounded swap search, each an order DP).\n\n");
  std::printf("| n | m | role DP ms | x prev | order DP ms | x prev | cached ms | stages |\n|---|---|---|---|---|---|---|---|\n");
  for (int n : {32, 80, 128}) {
    const model_profile model = llama_like(n, 4096, 11008, 1024, 32000);
    double prev_role = 0, prev_order = 0;
    for (int m = 4; m <= 1024; m *= 2) {
      pool_maker mk(seed + static_cast<uint64_t>(n * 7919 + m));
      std::vector<worker_profile> workers;
      for (int k = 0; k < m; ++k) workers.push_back(mk.device(k, n, 0.0));
      planner_options o;
      o.context_tokens = 2048;
      const int reps = m <= 64 ? 21 : (m <= 256 ? 9 : 5);
      plan p;
      const double role = median_ms([&] { p = partition(model, workers, o); }, reps);
      std::vector<int> order(static_cast<size_t>(m));
      for (int k = 0; k < m; ++k) order[static_cast<size_t>(k)] = k;
      const double ord = median_ms([&] { partition_in_order(model, workers, order, o); }, reps);
      pool_maker mk2(seed + static_cast<uint64_t>(n * 7919 + m));
      std::vector<worker_profile> cached_workers;
      for (int k = 0; k < m; ++k) cached_workers.push_back(mk2.device(k, n, 0.3));
      const double cached = median_ms([&] { partition(model, cached_workers, o); }, m <= 256 ? 3 : 1);
      auto ratio = [](double now, double before) {
        char buf[32];
        if (before <= 0) return std::string("-");
        std::snprintf(buf, sizeof buf, "%.2f", now / before);
        return std::string(buf);
      };
      std::printf("| %d | %d | %.3f | %s | %.3f | %s | %.1f | %zu%s |\n", n, m, role, ratio(role, prev_role).c_str(),
                  ord, ratio(ord, prev_order).c_str(), cached, p.stages.size(), p.feasible ? "" : " (infeasible)");
      std::fflush(stdout);
      prev_role = role;
      prev_order = ord;
    }
  }
  std::printf("\n");
}

struct ratio_stats {
  std::vector<double> ratios;
  int infeasible = 0;
  void add(const plan& baseline, const plan& dp) {
    if (!baseline.feasible) {
      ++infeasible;
      return;
    }
    ratios.push_back(baseline.predicted_ms_per_token / dp.predicted_ms_per_token);
  }
  void print(const char* name) {
    std::sort(ratios.begin(), ratios.end());
    if (ratios.empty()) {
      std::printf("| %s | - | - | - | %d |\n", name, infeasible);
      return;
    }
    const double med = ratios[ratios.size() / 2];
    std::printf("| %s | %.2f | %.2f | %.2f | %d |\n", name, med, ratios.front(), ratios.back(), infeasible);
  }
};

void quality(uint64_t seed, int pools) {
  // A 13B-class model (40 layers, fp16 ~26 GB): no single device holds it.
  const model_profile model = llama_like(40, 5120, 13824, 5120, 32000);
  std::printf("## quality: %d random pools, model %s (%d layers, %.1f GB fp16), context 2048\n\n", pools,
              model.name.c_str(), model.num_layers(),
              cost_model(model, planner_options{}).weight_bytes({0, model.num_layers()}) / 1e9);
  struct scenario {
    double horizon;
    bool fast_only;
    const char* text;
  };
  const scenario scenarios[] = {
      {2000.0, false, "mixed links, weight loads amortised over 2000 tokens"},
      {0.0, false, "mixed links, steady state (loads ignored)"},
      {0.0, true, "fast links only, steady state"},
  };
  for (const scenario& sc : scenarios)
  for (objective goal : {objective::latency, objective::throughput}) {
    const double horizon = sc.horizon;
    pool_maker mk(seed);
    ratio_stats eq, mp;
    int dp_infeasible = 0, solved = 0;
    double total_ms = 0;
    std::vector<double> stages;
    for (int t = 0; t < pools; ++t) {
      const int m = mk.pick(3, 24);
      std::vector<worker_profile> workers;
      for (int k = 0; k < m; ++k) workers.push_back(mk.device(k, model.num_layers(), 0.3, sc.fast_only));
      planner_options o;
      o.goal = goal;
      o.context_tokens = 2048;
      o.load_horizon_tokens = horizon;
      const double t0 = thread_cpu_ms();
      const plan dp = partition(model, workers, o);
      total_ms += thread_cpu_ms() - t0;
      if (!dp.feasible) {
        ++dp_infeasible;
        continue;
      }
      ++solved;
      stages.push_back(static_cast<double>(dp.stages.size()));
      eq.add(equal_split(model, workers, o), dp);
      mp.add(memory_proportional(model, workers, o), dp);
    }
    std::sort(stages.begin(), stages.end());
    std::printf("### objective %s, %s: %d pools planned, %d with no feasible plan at all, median %.0f stages, "
                "mean solve %.2f ms\n\n",
                to_string(goal), sc.text, solved, dp_infeasible, stages.empty() ? 0.0 : stages[stages.size() / 2],
                total_ms / pools);
    std::printf("| baseline | median baseline/DP | closest to DP (min) | farthest (max) | baseline does not fit memory |\n"
                "|---|---|---|---|---|\n");
    eq.print("equal_split");
    mp.print("memory_proportional");
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = "all";
  int pools = 1000;
  uint64_t seed = 20261122;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--pools") && i + 1 < argc) pools = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else what = argv[i];
  }
  if (what != "all" && what != "scaling" && what != "quality") {
    std::fprintf(stderr, "usage: tessera_bench_planner [scaling|quality|all] [--pools N] [--seed S]\n");
    return 2;
  }
  if (what != "quality") scaling(seed);
  if (what != "scaling") quality(seed, pools);
  return 0;
}
