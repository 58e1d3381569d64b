// Property tests: decide(), substitute() and choose_standbys() on random pools.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "decide_fixtures.hpp"
#include "planner/decide.hpp"
#include "random_instances.hpp"

using namespace tessera::planner;
using tessera::planner::testing::instance;
using tessera::planner::testing::instance_shape;
using tessera::planner::testing::random_instance;
using tessera::planner::testing::serving_after;

namespace {

// The instance's workers as a pool with distinct, scattered numeric ids (the
// instance's workers are renamed to match).
std::vector<pool_worker> pool_of(instance& in, std::mt19937_64& rng) {
  std::vector<pool_worker> pool;
  std::set<uint64_t> ids;
  for (auto& w : in.workers) {
    uint64_t id;
    do id = std::uniform_int_distribution<uint64_t>(1, 1'000'000)(rng);
    while (!ids.insert(id).second);
    w.id = std::to_string(id);
    pool.push_back({id, w, ""});
  }
  return pool;
}

const pool_worker* find(const std::vector<pool_worker>& pool, uint64_t id) {
  for (const auto& w : pool)
    if (w.id == id) return &w;
  return nullptr;
}

// Empty when `stages` cover [0, n) contiguously with distinct pool workers within memory.
std::string check_stages(const instance& in, const std::vector<pool_worker>& pool,
                         const std::vector<placed_stage>& stages) {
  const cost_model cm(in.model, in.options);
  std::set<uint64_t> seen;
  int next = 0;
  for (const auto& s : stages) {
    const auto* w = find(pool, s.worker);
    if (!w) return "worker " + std::to_string(s.worker) + " is not in the pool";
    if (!seen.insert(s.worker).second) return "worker used twice";
    if (s.layers.begin != next || s.layers.empty()) return "stages are not contiguous";
    if (!cm.fits(w->profile, s.layers)) return "memory limit broken";
    next = s.layers.end;
  }
  return next == in.model.num_layers() ? "" : "layers not covered";
}

}  // namespace

TEST_CASE("with nothing serving decide assigns exactly partition()'s plan, naming pool workers by id, on 3,000 "
          "random pools",
          "[planner][decide][property]") {
  std::mt19937_64 rng(1010);
  int feasible = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    instance_shape shape;
    shape.uniform_layers = trial % 2 == 0;
    shape.with_caches = trial % 3 == 0;
    auto in = random_instance(rng, shape);
    const auto pool = pool_of(in, rng);
    decide_options o;
    o.plan = in.options;
    const auto d = decide(in.model, pool, {}, o);
    const plan expected = partition(in.model, in.workers, in.options);
    INFO("trial " << trial);
    REQUIRE(expected.feasible == (d.kind != decision_kind::infeasible));
    if (!expected.feasible) {
      CHECK(d.why == "the pool cannot hold the model: " + expected.reason);
      continue;
    }
    ++feasible;
    REQUIRE(d.kind == decision_kind::assign_now);
    CHECK(d.chosen.predicted_ms_per_token == expected.predicted_ms_per_token);
    REQUIRE(d.stages.size() == d.chosen.stages.size());
    for (size_t i = 0; i < d.stages.size(); ++i) {
      CHECK(d.stages[i].worker == pool[static_cast<size_t>(d.chosen.stages[i].worker_index)].id);
      CHECK(d.chosen.stages[i].worker_id == std::to_string(d.stages[i].worker));
    }
    CHECK(check_stages(in, pool, d.stages).empty());
  }
  CHECK(feasible > 1500);
}

TEST_CASE("re-deciding an unchanged pool keeps the serving plan (exact planner, loads ignored)",
          "[planner][decide][property]") {
  std::mt19937_64 rng(2020);
  int kept = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    auto in = random_instance(rng, instance_shape{});
    in.options.load_horizon_tokens = 0;
    in.options.goal = trial % 2 ? objective::throughput : objective::latency;
    const auto pool = pool_of(in, rng);
    decide_options o;
    o.plan = in.options;
    const auto first = decide(in.model, pool, {}, o);
    if (first.kind == decision_kind::infeasible) continue;
    auto v = serving_after(first);
    v.ready = trial % 3 != 0;
    const auto again = decide(in.model, pool, v, o);
    INFO("trial " << trial << " why " << again.why);
    CHECK(again.kind == decision_kind::keep);
    CHECK(again.stages == first.stages);
    ++kept;
  }
  CHECK(kept > 1000);
}

TEST_CASE("after a serving worker leaves decide never keeps or migrates, and a substitution moves only the lost "
          "stage, to the smallest idle worker that fits",
          "[planner][decide][substitute][property]") {
  std::mt19937_64 rng(3030);
  int substituted = 0, replanned = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    instance_shape shape;
    shape.max_workers = 7;
    shape.uniform_layers = trial % 2 == 0;
    auto in = random_instance(rng, shape);
    auto pool = pool_of(in, rng);
    decide_options o;
    o.plan = in.options;
    o.background_migration = trial % 2 == 0;
    const auto first = decide(in.model, pool, {}, o);
    if (first.kind == decision_kind::infeasible) continue;
    auto v = serving_after(first);
    const size_t lost_stage = std::uniform_int_distribution<size_t>(0, v.current.size() - 1)(rng);
    const auto lost = v.current[lost_stage];
    pool.erase(std::find_if(pool.begin(), pool.end(), [&](const pool_worker& w) { return w.id == lost.worker; }));
    const auto d = decide(in.model, pool, v, o);
    INFO("trial " << trial << " why " << d.why);
    REQUIRE(d.kind != decision_kind::keep);
    REQUIRE(d.kind != decision_kind::migrate);
    if (d.kind == decision_kind::infeasible) continue;
    CHECK(check_stages(in, pool, d.stages).empty());
    const auto sub = substitute(in.model, pool, v.last_plan, v.last_served, o.plan);
    if (!sub) {
      ++replanned;
      continue;
    }
    ++substituted;
    REQUIRE(d.stages.size() == v.current.size());
    const cost_model cm(in.model, in.options);
    uint64_t smallest = UINT64_MAX;
    for (const auto& w : pool)
      if (std::none_of(v.current.begin(), v.current.end(), [&](const placed_stage& s) { return s.worker == w.id; }) &&
          cm.fits(w.profile, lost.layers))
        smallest = std::min(smallest, w.profile.memory_bytes);
    for (size_t i = 0; i < d.stages.size(); ++i) {
      CHECK(d.stages[i].layers == v.current[i].layers);
      if (i != lost_stage)
        CHECK(d.stages[i].worker == v.current[i].worker);
      else
        CHECK(find(pool, d.stages[i].worker)->profile.memory_bytes == smallest);
    }
  }
  CHECK(substituted > 200);
  CHECK(replanned > 50);
}

TEST_CASE("standbys are idle, distinct and fit their stage, and a stage left without one fits no idle worker left "
          "over",
          "[planner][decide][standby][property]") {
  std::mt19937_64 rng(4040);
  int chosen = 0, unserved = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    instance_shape shape;
    shape.max_workers = 8;
    auto in = random_instance(rng, shape);
    auto pool = pool_of(in, rng);
    for (auto& w : pool)
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) w.profile.kind = device_kind::browser;
    decide_options o;
    o.plan = in.options;
    const auto first = decide(in.model, pool, {}, o);
    if (first.kind == decision_kind::infeasible) continue;
    const auto serving = serving_after(first).current;
    for (auto& w : pool)  // some idle workers already hold a serving stage's shard
      if (std::uniform_int_distribution<int>(0, 4)(rng) == 0)
        w.shard = serving[std::uniform_int_distribution<size_t>(0, serving.size() - 1)(rng)].shard;
    const auto picks = choose_standbys(in.model, pool, serving, o.plan);
    const cost_model cm(in.model, in.options);
    auto serves = [&](uint64_t id) {
      return std::any_of(serving.begin(), serving.end(), [&](const placed_stage& s) { return s.worker == id; });
    };
    std::set<uint64_t> workers;
    std::set<size_t> stages;
    for (const auto& p : picks) {
      const auto* w = find(pool, p.worker);
      REQUIRE(w);
      CHECK_FALSE(serves(p.worker));
      CHECK(workers.insert(p.worker).second);
      CHECK(stages.insert(p.stage).second);
      REQUIRE(p.stage < serving.size());
      CHECK(cm.fits(w->profile, serving[p.stage].layers));
      CHECK(p.already_holds == (w->shard == serving[p.stage].shard));
      ++chosen;
    }
    for (size_t s = 0; s < serving.size(); ++s) {
      if (stages.count(s)) continue;
      ++unserved;
      for (const auto& w : pool)
        if (!serves(w.id) && !workers.count(w.id)) CHECK_FALSE(cm.fits(w.profile, serving[s].layers));
    }
  }
  CHECK(chosen > 500);
  CHECK(unserved > 500);
}
