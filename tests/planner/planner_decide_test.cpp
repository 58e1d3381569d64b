// Unit tests: decide() (keep / assign_now / migrate / infeasible), substitution
// of a lost stage and the choice of standby workers.
#include <catch2/catch.hpp>

#include "decide_fixtures.hpp"
#include "planner/decide.hpp"

using namespace tessera::planner;
using tessera::planner::testing::serving_after;

namespace {

// Layers of 1 MB; a worker of 100 MB holds them all (no scratch, no KV).
model_profile uniform(int n) { return tessera::planner::testing::uniform_model(n); }

pool_worker make(uint64_t id, double flops, uint64_t memory = 100'000'000) {
  pool_worker w;
  w.id = id;
  w.profile.id = "ignored";
  w.profile.memory_bytes = memory;
  w.profile.flops_per_s = flops;
  w.profile.rtt_ms = 1;
  w.profile.download_bytes_per_s = 1e8;
  w.profile.upload_bytes_per_s = 1e8;
  return w;
}

decide_options options() {
  decide_options o;
  o.plan.scratch_bytes = 0;
  o.plan.load_horizon_tokens = 100;
  o.plan.goal = objective::throughput;
  return o;
}

// Two 5 MB workers serve 4 layers each; the second stage's worker is then
// removed from `pool`. Returns what served.
serving_view two_stages_one_lost(std::vector<pool_worker>& pool) {
  pool = {make(1, 1e12, 5'000'000), make(2, 1e12, 5'000'000)};
  const auto first = decide(uniform(8), pool, {}, options());
  REQUIRE(first.stages.size() == 2);
  serving_view v = serving_after(first);
  const uint64_t lost = v.current[1].worker;
  v.change = "worker " + std::to_string(lost) + " left";
  pool.erase(pool.begin() + (lost == 1 ? 0 : 1));
  return v;
}

}  // namespace

TEST_CASE("an empty pool is infeasible with 'no workers connected'", "[planner][decide]") {
  const auto d = decide(uniform(8), {}, {}, options());
  CHECK(d.kind == decision_kind::infeasible);
  CHECK(d.why == "no workers connected");
  CHECK(d.stages.empty());
}

TEST_CASE("with nothing serving the best plan is assigned at once, stages named by numeric id", "[planner][decide]") {
  const std::vector<pool_worker> pool = {make(41, 1e12), make(7, 1e12)};
  const auto d = decide(uniform(8), pool, {}, options());
  REQUIRE(d.kind == decision_kind::assign_now);
  CHECK(d.why == "first plan");
  CHECK(d.abandon.empty());
  REQUIRE(d.stages.size() == 2);
  REQUIRE(d.chosen.stages.size() == 2);
  for (size_t i = 0; i < d.stages.size(); ++i) {
    CHECK(std::to_string(d.stages[i].worker) == d.chosen.stages[i].worker_id);
    CHECK(d.stages[i].layers == d.chosen.stages[i].layers);
  }
  CHECK(d.stages[0].worker != d.stages[1].worker);
  CHECK(d.stages[0].layers.begin == 0);
  CHECK(d.stages[1].layers.end == 8);
}

TEST_CASE("a pool too small for the model is infeasible with the planner's reason", "[planner][decide]") {
  const std::vector<pool_worker> pool = {make(1, 1e12, 3'000'000)};
  serving_view v;
  v.migrating = {{1, {0, 8}, "x"}};
  const auto d = decide(uniform(8), pool, v, options());
  CHECK(d.kind == decision_kind::infeasible);
  CHECK_THAT(d.why, Catch::StartsWith("the pool cannot hold the model: "));
  CHECK(d.why.size() > std::string("the pool cannot hold the model: ").size());
  CHECK(d.abandon == "the pool cannot hold the model");
}

TEST_CASE("re-deciding on an unchanged pool keeps the serving plan", "[planner][decide]") {
  const std::vector<pool_worker> pool = {make(1, 1e12), make(2, 1e12)};
  const auto first = decide(uniform(8), pool, {}, options());
  const auto again = decide(uniform(8), pool, serving_after(first), options());
  CHECK(again.kind == decision_kind::keep);
  CHECK(again.stages == first.stages);
  CHECK(again.abandon.empty());
  CHECK_THAT(again.why, Catch::StartsWith("worker joined; kept current plan"));
}

TEST_CASE("a clearly better plan migrates in the background only when the serving plan is ready and background "
          "migration is on",
          "[planner][decide]") {
  std::vector<pool_worker> pool = {make(1, 1e12)};
  const auto first = decide(uniform(8), pool, {}, options());
  REQUIRE(first.stages.size() == 1);
  pool.push_back(make(2, 1e12));  // halves the bottleneck
  serving_view v = serving_after(first);
  const auto d = decide(uniform(8), pool, v, options());
  CHECK(d.kind == decision_kind::migrate);
  CHECK(d.stages.size() == 2);
  CHECK_THAT(d.why, Catch::StartsWith("worker joined; new plan"));
  v.ready = false;
  CHECK(decide(uniform(8), pool, v, options()).kind == decision_kind::assign_now);
  v.ready = true;
  auto o = options();
  o.background_migration = false;
  CHECK(decide(uniform(8), pool, v, o).kind == decision_kind::assign_now);
}

TEST_CASE("the plan already migrating is kept; another one abandons it", "[planner][decide]") {
  std::vector<pool_worker> pool = {make(1, 1e12)};
  const auto first = decide(uniform(8), pool, {}, options());
  pool.push_back(make(2, 1e12));
  serving_view v = serving_after(first);
  const auto better = decide(uniform(8), pool, v, options());
  REQUIRE(better.kind == decision_kind::migrate);
  v.migrating = better.stages;
  const auto same = decide(uniform(8), pool, v, options());
  CHECK(same.kind == decision_kind::keep);
  CHECK(same.abandon.empty());
  v.migrating = {{1, {0, 3}, ""}, {2, {3, 8}, ""}};  // a different split is loading
  const auto other = decide(uniform(8), pool, v, options());
  CHECK(other.kind == decision_kind::migrate);
  CHECK(other.abandon == "a better plan came up");
}

TEST_CASE("a lost stage goes to the idle worker holding its shard, the others keep their ranges",
          "[planner][decide][substitute]") {
  std::vector<pool_worker> pool;
  serving_view v = two_stages_one_lost(pool);
  const auto lost = v.current[1];
  pool.push_back(make(9, 1e12, 50'000'000));
  pool.push_back(make(10, 1e12, 60'000'000));
  pool.back().shard = lost.shard;  // standing by for the lost stage, though larger
  v.migrating = {{1, {0, 8}, ""}};
  const auto d = decide(uniform(8), pool, v, options());
  REQUIRE(d.kind == decision_kind::assign_now);
  CHECK(d.why == v.change + "; lost stages given to idle workers, the others keep their KV");
  CHECK(d.abandon == "a worker of the serving plan left");
  REQUIRE(d.stages.size() == 2);
  CHECK(d.stages[0] == v.current[0]);
  CHECK(d.stages[1].worker == 10);
  CHECK(d.stages[1].layers == lost.layers);
  pool.back().shard.clear();  // nobody stands by: the smallest idle worker that fits
  const auto smallest = decide(uniform(8), pool, v, options());
  REQUIRE(smallest.stages.size() == 2);
  CHECK(smallest.stages[1].worker == 9);
}

TEST_CASE("when no idle worker fits the lost range the whole pool is re-planned", "[planner][decide][substitute]") {
  std::vector<pool_worker> pool;
  serving_view v = two_stages_one_lost(pool);
  const auto lost = v.current[1];
  pool.push_back(make(5, 1e12, 2'500'000));  // neither holds the lost 4 layers alone
  pool.push_back(make(6, 1e12, 2'500'000));
  CHECK_FALSE(substitute(uniform(8), pool, v.last_plan, v.last_served, options().plan).has_value());
  const auto d = decide(uniform(8), pool, v, options());
  CHECK(d.kind == decision_kind::assign_now);
  CHECK(d.why == v.change);
  CHECK(d.stages.size() == 3);  // 5 + 2.5 + 2.5 MB hold the 8 MB together
  pool.pop_back();              // 5 + 2.5 MB do not
  const auto short_pool = decide(uniform(8), pool, v, options());
  CHECK(short_pool.kind == decision_kind::infeasible);
  CHECK_THAT(short_pool.why, Catch::StartsWith("the pool cannot hold the model: "));
}

TEST_CASE("standbys: idle workers only, one per stage, browser stages first, holders kept, smallest that fits",
          "[planner][decide][standby]") {
  const auto m = uniform(8);
  std::vector<pool_worker> pool = {make(1, 1e12, 6'000'000), make(2, 1e12, 6'000'000), make(3, 1e12, 6'000'000),
                                   make(4, 1e12, 60'000'000), make(5, 1e12, 3'000'000)};
  pool[1].profile.kind = device_kind::browser;
  const std::vector<placed_stage> serving = {{1, {0, 4}, "a"}, {2, {4, 8}, "b"}};
  // Worker 3 (6 MB) is the smallest that fits a 4-layer stage; the browser stage
  // (worker 2's) gets it first, the other stage the next smallest, worker 4.
  auto picks = choose_standbys(m, pool, serving, options().plan);
  REQUIRE(picks.size() == 2);
  CHECK(picks[0].stage == 1);
  CHECK(picks[0].worker == 3);
  CHECK_FALSE(picks[0].already_holds);
  CHECK(picks[1].stage == 0);
  CHECK(picks[1].worker == 4);
  // A worker already holding a stage's shard keeps it, even when larger.
  pool[3].shard = "b";
  picks = choose_standbys(m, pool, serving, options().plan);
  REQUIRE(picks.size() == 2);
  CHECK(picks[0].stage == 1);
  CHECK(picks[0].worker == 4);
  CHECK(picks[0].already_holds);
  CHECK(picks[1].worker == 3);
  // Nobody idle fits: no standbys.
  pool.resize(2);
  pool.push_back(make(5, 1e12, 3'000'000));
  CHECK(choose_standbys(m, pool, serving, options().plan).empty());
}
