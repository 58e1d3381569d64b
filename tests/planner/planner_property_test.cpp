// Property tests: the DPs against brute force on random small instances.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include "planner/partition_detail.hpp"
#include "planner/planner.hpp"
#include "random_instances.hpp"

using namespace tessera::planner;
using tessera::planner::testing::instance;
using tessera::planner::testing::instance_shape;
using tessera::planner::testing::random_instance;

namespace {

bool same_cost(double a, double b) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b));
}

// Empty string when the plan is a valid cover of [0, n) within every memory limit.
std::string check_plan(const instance& in, const plan& p) {
  const cost_model cm(in.model, in.options);
  int next = 0;
  std::vector<char> used(in.workers.size(), 0);
  for (const stage& s : p.stages) {
    if (s.layers.begin != next || s.layers.empty()) return "stages are not contiguous";
    if (s.worker_index < 0 || s.worker_index >= static_cast<int>(in.workers.size())) return "bad worker index";
    if (used[static_cast<size_t>(s.worker_index)]++) return "worker used twice";
    const auto& w = in.workers[static_cast<size_t>(s.worker_index)];
    if (cm.memory_bytes(s.layers) > w.memory_bytes) return "memory limit broken by " + w.id;
    if (s.memory_bytes != cm.memory_bytes(s.layers)) return "stage memory misreported";
    next = s.layers.end;
  }
  if (next != in.model.num_layers()) return "layers not covered";
  return "";
}

std::string describe(const instance& in, const plan& dp, const plan& oracle) {
  std::ostringstream os;
  os << "n=" << in.model.num_layers() << " m=" << in.workers.size() << " goal=" << to_string(in.options.goal)
     << " dp=" << dp.predicted_ms_per_token << " (" << (dp.feasible ? "feasible" : dp.reason) << ")"
     << " oracle=" << oracle.predicted_ms_per_token << " (" << (oracle.feasible ? "feasible" : oracle.reason) << ")";
  return os.str();
}

// Brute force restricted to one worker order: every subsequence and every cut.
double best_in_order(const instance& in, const std::vector<int>& order) {
  const cost_model cm(in.model, in.options);
  const int n = in.model.num_layers();
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> tables;
  for (int k : order) tables.push_back(cm.stage_table(in.workers[static_cast<size_t>(k)]));
  std::function<void(size_t, int, double)> go = [&](size_t idx, int at, double acc) {
    if (at == n) {
      best = std::min(best, acc);
      return;
    }
    if (idx == order.size()) return;
    go(idx + 1, at, acc);
    for (int j = at + 1; j <= n; ++j) {
      const double c = tables[idx][static_cast<size_t>(at) * static_cast<size_t>(n + 1) + static_cast<size_t>(j)];
      if (std::isinf(c)) continue;
      go(idx + 1, j, in.options.goal == objective::latency ? acc + c : std::max(acc, c));
    }
  };
  go(0, 0, 0.0);
  return best;
}

}  // namespace

TEST_CASE("the DP's cost equals the brute-force optimum on 10,000 random pools, both objectives, within memory",
          "[planner][property]") {
  std::mt19937_64 rng(20261122);
  int mismatches = 0, infeasible = 0, feasible = 0, broken = 0, tie_mismatches = 0;
  std::string first_mismatch, first_broken, first_tie;
  for (int t = 0; t < 10000; ++t) {
    instance in = random_instance(rng, instance_shape{});
    REQUIRE(detail::position_free(in.model, in.workers));
    for (objective goal : {objective::latency, objective::throughput}) {
      in.options.goal = goal;
      const plan dp = partition(in.model, in.workers, in.options);
      const plan oracle = brute_force_partition(in.model, in.workers, in.options);
      if (dp.feasible != oracle.feasible ||
          (dp.feasible && !same_cost(dp.predicted_ms_per_token, oracle.predicted_ms_per_token))) {
        if (mismatches++ == 0) first_mismatch = describe(in, dp, oracle);
      }
      // Throughput ties on the bottleneck are broken by the least latency (the oracle does the same).
      if (dp.feasible && oracle.feasible && goal == objective::throughput &&
          !same_cost(dp.latency_ms_per_token, oracle.latency_ms_per_token)) {
        if (tie_mismatches++ == 0) first_tie = describe(in, dp, oracle) + " sums " +
                                               std::to_string(dp.latency_ms_per_token) + " vs " +
                                               std::to_string(oracle.latency_ms_per_token);
      }
      if (dp.feasible) {
        ++feasible;
        const std::string problem = check_plan(in, dp);
        if (!problem.empty() && broken++ == 0) first_broken = problem;
      } else {
        ++infeasible;
        if (dp.reason.empty() && broken++ == 0) first_broken = "infeasible plan without a reason";
      }
    }
  }
  WARN("10,000 pools x 2 objectives: " << feasible << " feasible, " << infeasible << " infeasible plans");
  INFO("first mismatch: " << first_mismatch);
  INFO("first broken plan: " << first_broken);
  INFO("first throughput tie broken differently: " << first_tie);
  CHECK(mismatches == 0);
  CHECK(tie_mismatches == 0);
  CHECK(broken == 0);
  // The generator must exercise both outcomes.
  CHECK(infeasible > 1000);
  CHECK(feasible > 10000);
}

TEST_CASE("the order DP is exact over every subset and cut of its worker order (caches, uneven layers)",
          "[planner][property]") {
  std::mt19937_64 rng(7);
  int mismatches = 0;
  std::string first;
  for (int t = 0; t < 3000; ++t) {
    instance in = random_instance(rng, instance_shape{8, 5, t % 2 == 0, true});
    in.options.goal = t % 3 == 0 ? objective::throughput : objective::latency;
    std::vector<int> order(in.workers.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(order.size() - 1 - k);
    double value = 0;
    detail::order_dp(in.model, in.workers, order, in.options, &value);
    const double expect = best_in_order(in, order);
    if (!same_cost(value, expect) && mismatches++ == 0) {
      std::ostringstream os;
      os << "n=" << in.model.num_layers() << " m=" << in.workers.size() << " dp=" << value << " brute=" << expect;
      first = os.str();
    }
  }
  INFO(first);
  CHECK(mismatches == 0);
}

TEST_CASE("with caches or uneven layers small pools are still solved exactly (subset DP), within memory",
          "[planner][property]") {
  std::mt19937_64 rng(99);
  int mismatches = 0, broken = 0, feasible = 0;
  std::string first;
  for (int t = 0; t < 3000; ++t) {
    instance in = random_instance(rng, instance_shape{8, 5, t % 2 == 0, true});
    in.options.goal = t % 4 < 2 ? objective::throughput : objective::latency;
    const plan dp = partition(in.model, in.workers, in.options);
    const plan oracle = brute_force_partition(in.model, in.workers, in.options);
    if (dp.feasible != oracle.feasible ||
        (dp.feasible && !same_cost(dp.predicted_ms_per_token, oracle.predicted_ms_per_token))) {
      if (mismatches++ == 0) first = describe(in, dp, oracle);
    }
    if (dp.feasible && oracle.feasible && in.options.goal == objective::throughput &&
        !same_cost(dp.latency_ms_per_token, oracle.latency_ms_per_token) && mismatches++ == 0)
      first = describe(in, dp, oracle) + " (throughput tie broken differently)";
    if (dp.feasible) {
      ++feasible;
      if (!check_plan(in, dp).empty()) ++broken;
    }
  }
  INFO(first);
  CHECK(mismatches == 0);
  CHECK(broken == 0);
  CHECK(feasible > 1500);
}

TEST_CASE("the order search used for large position-dependent pools is valid and never beats the oracle",
          "[planner][property]") {
  std::mt19937_64 rng(1234);
  int optimal = 0, total = 0, below_oracle = 0, broken = 0, missed_feasible = 0;
  double worst_ratio = 1.0;
  for (int t = 0; t < 2000; ++t) {
    instance in = random_instance(rng, instance_shape{8, 5, t % 2 == 0, true});
    in.options.goal = t % 4 < 2 ? objective::throughput : objective::latency;
    const auto stages = detail::order_search(in.model, in.workers, in.options,
                                             detail::candidate_orders(in.model, in.workers, in.options), 8);
    const plan oracle = brute_force_partition(in.model, in.workers, in.options);
    if (!oracle.feasible) {
      CHECK(stages.empty());
      continue;
    }
    ++total;
    if (stages.empty()) {
      ++missed_feasible;
      continue;
    }
    const plan dp = evaluate(in.model, in.workers, stages, in.options);
    if (!dp.feasible || !check_plan(in, dp).empty()) ++broken;
    if (dp.predicted_ms_per_token < oracle.predicted_ms_per_token * (1 - 1e-9)) ++below_oracle;
    if (same_cost(dp.predicted_ms_per_token, oracle.predicted_ms_per_token)) ++optimal;
    worst_ratio = std::max(worst_ratio, dp.predicted_ms_per_token / oracle.predicted_ms_per_token);
  }
  WARN("order search on position-dependent instances: " << optimal << "/" << total << " optimal, "
       << missed_feasible << " feasible pools missed, worst ratio " << worst_ratio);
  CHECK(broken == 0);
  CHECK(below_oracle == 0);
  CHECK(total > 1000);
  CHECK(missed_feasible <= total / 50);
  CHECK(optimal >= total * 9 / 10);
}

TEST_CASE("on position-free pools the DP is never worse than either baseline", "[planner][property]") {
  std::mt19937_64 rng(3);
  int worse = 0;
  for (int t = 0; t < 2000; ++t) {
    instance in = random_instance(rng, instance_shape{16, 8, true, false});
    in.options.goal = t % 2 ? objective::throughput : objective::latency;
    const plan dp = partition(in.model, in.workers, in.options);
    for (const plan& b : {equal_split(in.model, in.workers, in.options),
                          memory_proportional(in.model, in.workers, in.options)}) {
      if (!b.feasible) continue;
      if (!dp.feasible || dp.predicted_ms_per_token > b.predicted_ms_per_token * (1 + 1e-9)) ++worse;
    }
  }
  CHECK(worse == 0);
}

TEST_CASE("on pools of up to 10 workers the order search stays close to the exact subset DP",
          "[planner][property]") {
  std::mt19937_64 rng(4242);
  int total = 0, optimal = 0, missed = 0, below_exact = 0;
  double worst = 1.0;
  for (int t = 0; t < 400; ++t) {
    instance in = random_instance(rng, instance_shape{6, 10, t % 2 == 0, true});
    in.options.goal = t % 4 < 2 ? objective::throughput : objective::latency;
    const int n = in.model.num_layers(), m = static_cast<int>(in.workers.size());
    REQUIRE(detail::subset_dp_affordable(n, m));
    double exact = 0;
    detail::subset_dp(in.model, in.workers, in.options, &exact);
    if (std::isinf(exact)) continue;
    ++total;
    const auto stages = detail::order_search(in.model, in.workers, in.options,
                                             detail::candidate_orders(in.model, in.workers, in.options), 8);
    if (stages.empty()) {
      ++missed;
      continue;
    }
    const plan p = evaluate(in.model, in.workers, stages, in.options);
    if (p.predicted_ms_per_token < exact * (1 - 1e-9)) ++below_exact;
    if (same_cost(p.predicted_ms_per_token, exact)) ++optimal;
    worst = std::max(worst, p.predicted_ms_per_token / exact);
  }
  WARN("order search vs subset DP (m <= 10): " << optimal << "/" << total << " optimal, " << missed
       << " feasible pools missed, worst ratio " << worst);
  CHECK(below_exact == 0);
  CHECK(total > 200);
  CHECK(missed <= total / 50);
  CHECK(optimal >= total * 8 / 10);
}
