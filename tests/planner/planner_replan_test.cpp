// Unit tests: stability-aware re-planning and bytes to move.
#include <catch2/catch.hpp>

#include "decide_fixtures.hpp"
#include "planner/planner.hpp"

using namespace tessera::planner;

namespace {

model_profile uniform(int n) { return tessera::planner::testing::uniform_model(n); }

worker_profile make(const std::string& id, double flops) {
  worker_profile w;
  w.id = id;
  w.memory_bytes = 100'000'000;
  w.flops_per_s = flops;
  w.rtt_ms = 1;
  w.download_bytes_per_s = 1e8;
  w.upload_bytes_per_s = 1e8;
  return w;
}

planner_options options() {
  planner_options o;
  o.scratch_bytes = 0;
  o.load_horizon_tokens = 100;
  o.goal = objective::throughput;
  return o;
}

}  // namespace

TEST_CASE("a current plan within the stability margin is kept and nothing moves", "[planner][stability]") {
  const auto m = uniform(8);
  std::vector<worker_profile> pool = {make("a", 1e12), make("b", 1e12)};
  const plan current = partition(m, pool, options());
  REQUIRE(current.feasible);
  // b becomes 5% faster: the ideal split shifts, but not by more than the margin.
  pool[1].flops_per_s = 1.05e12;
  const replan_result r = replan(m, pool, current, options());
  CHECK(r.kept_current);
  CHECK(r.bytes_to_move == 0);
  REQUIRE(r.chosen.stages.size() == current.stages.size());
  for (size_t s = 0; s < current.stages.size(); ++s) CHECK(r.chosen.stages[s].layers == current.stages[s].layers);
}

TEST_CASE("a clearly better plan replaces the current one and reports the bytes to move", "[planner][stability]") {
  const auto m = uniform(8);
  std::vector<worker_profile> pool = {make("a", 1e12)};
  const plan current = partition(m, pool, options());
  REQUIRE(current.stages.size() == 1);
  pool.push_back(make("b", 1e12));  // a second equal worker halves the bottleneck
  const replan_result r = replan(m, pool, current, options());
  CHECK_FALSE(r.kept_current);
  REQUIRE(r.chosen.stages.size() == 2);
  CHECK(r.chosen.predicted_ms_per_token < 0.9 * r.candidate.predicted_ms_per_token + 1e9);
  // b must fetch its layers (and the prelude/head it lacks); a already holds everything.
  uint64_t b_layers = 0;
  for (const auto& s : r.chosen.stages)
    if (s.worker_id == "b") b_layers = static_cast<uint64_t>(s.layers.size());
  CHECK(b_layers > 0);
  CHECK(r.bytes_to_move == b_layers * 1'000'000);
}

TEST_CASE("a margin of zero always takes the better plan and a huge margin always keeps a feasible one",
          "[planner][stability]") {
  const auto m = uniform(8);
  std::vector<worker_profile> pool = {make("a", 1e12), make("b", 1e12)};
  const plan current = partition(m, pool, options());
  pool[1].flops_per_s = 1.05e12;
  planner_options o = options();
  o.stability_margin = 0;
  const replan_result eager = replan(m, pool, current, o);
  CHECK(eager.chosen.predicted_ms_per_token <= eager.candidate.predicted_ms_per_token + 1e-12);
  o.stability_margin = 0.99;
  pool.push_back(make("c", 1e12));
  CHECK(replan(m, pool, current, o).kept_current);
}

TEST_CASE("a plan whose worker left is replaced", "[planner][stability]") {
  const auto m = uniform(8);
  std::vector<worker_profile> pool = {make("a", 1e12), make("b", 1e12)};
  const plan current = partition(m, pool, options());
  REQUIRE(current.stages.size() == 2);
  pool.erase(pool.begin());
  const replan_result r = replan(m, pool, current, options());
  CHECK_FALSE(r.kept_current);
  CHECK_THAT(r.why, Catch::Contains("gone"));
  REQUIRE(r.chosen.feasible);
  REQUIRE(r.chosen.stages.size() == 1);
  CHECK(r.chosen.stages[0].worker_id == "b");
}
