// Unit tests: partition behaviour on hand-made pools, baselines, infeasibility.
#include <catch2/catch.hpp>

#include "planner/partition_detail.hpp"
#include "planner/planner.hpp"

using namespace tessera::planner;

namespace {

model_profile uniform(int n, uint64_t layer_bytes) {
  model_profile m;
  for (int l = 0; l < n; ++l) m.layers.push_back({layer_bytes, layer_bytes, 0, 4096});
  return m;
}

worker_profile make(const std::string& id, uint64_t mem, double flops, double rtt = 1) {
  worker_profile w;
  w.id = id;
  w.memory_bytes = mem;
  w.flops_per_s = flops;
  w.rtt_ms = rtt;
  w.download_bytes_per_s = 1e8;
  w.upload_bytes_per_s = 1e8;
  return w;
}

planner_options no_overheads() {
  planner_options o;
  o.scratch_bytes = 0;
  o.load_horizon_tokens = 0;
  return o;
}

}  // namespace

TEST_CASE("one worker that fits everything serves the whole model", "[planner][partition]") {
  const auto m = uniform(4, 1000);
  const plan p = partition(m, {make("big", 1'000'000, 1e9)}, no_overheads());
  REQUIRE(p.feasible);
  REQUIRE(p.stages.size() == 1);
  CHECK(p.stages[0].layers == layer_range{0, 4});
  CHECK(p.stages[0].worker_id == "big");
}

TEST_CASE("a fast worker with little memory takes what fits and a slow one the rest", "[planner][partition]") {
  const auto m = uniform(10, 1000);
  // "fast" holds 3 layers; its RTT is small, so splitting pays off.
  const std::vector<worker_profile> pool = {make("slow", 100'000, 1e6), make("fast", 3000, 1e9)};
  const plan p = partition(m, pool, no_overheads());
  REQUIRE(p.feasible);
  REQUIRE(p.stages.size() == 2);
  int fast_layers = 0;
  for (const auto& s : p.stages)
    if (s.worker_id == "fast") fast_layers = s.layers.size();
  CHECK(fast_layers == 3);
  for (const auto& s : p.stages) CHECK(s.memory_bytes <= s.memory_budget);
}

TEST_CASE("workers that cost more than they save are skipped", "[planner][partition]") {
  const auto m = uniform(4, 1000);
  const std::vector<worker_profile> pool = {make("near", 1'000'000, 1e9, 1), make("far", 1'000'000, 1e9, 500)};
  const plan p = partition(m, pool, no_overheads());
  REQUIRE(p.stages.size() == 1);
  CHECK(p.stages[0].worker_id == "near");
}

TEST_CASE("throughput minimises the slowest stage, latency the sum", "[planner][partition]") {
  const auto m = uniform(8, 1000);
  std::vector<worker_profile> pool = {make("a", 1'000'000, 1e6, 1), make("b", 1'000'000, 1e6, 1)};
  planner_options o = no_overheads();
  o.goal = objective::throughput;
  const plan t = partition(m, pool, o);
  REQUIRE(t.stages.size() == 2);  // 4 + 4 layers: bottleneck 4 ms + link instead of 8 ms
  CHECK(t.stages[0].layers.size() == 4);
  CHECK(t.predicted_ms_per_token == Approx(t.bottleneck_ms));
  o.goal = objective::latency;
  const plan l = partition(m, pool, o);
  REQUIRE(l.stages.size() == 1);  // the sum only grows with a second RTT
  CHECK(l.predicted_ms_per_token == Approx(l.latency_ms_per_token));
}

TEST_CASE("the first stage must hold the embedding and the last the head", "[planner][partition]") {
  auto m = uniform(4, 1000);
  m.embed_param_bytes = 5000;
  m.head_param_bytes = 3000;
  // Only "e" can hold the embedding (5000 + a layer); then only "h" can hold the
  // head (3000 + a layer); "mid" holds two plain layers.
  const std::vector<worker_profile> pool = {make("h", 4500, 1e9), make("mid", 2000, 1e9), make("e", 7000, 1e9)};
  const plan p = partition(m, pool, no_overheads());
  REQUIRE(p.feasible);
  CHECK(p.stages.front().worker_id == "e");
  CHECK(p.stages.back().worker_id == "h");
}

TEST_CASE("an infeasible pool says how much it lacks and how many layers the largest worker holds",
          "[planner][partition]") {
  const auto m = uniform(32, 100'000'000);  // 3.2 GB of layers
  const std::vector<worker_profile> pool = {make("x", 500'000'000, 1e9), make("y", 100'000'000, 1e9)};
  const plan p = partition(m, pool, no_overheads());
  CHECK_FALSE(p.feasible);
  CHECK_THAT(p.reason, Catch::Contains("the pool lacks 2.6 GB"));
  CHECK_THAT(p.reason, Catch::Contains("the largest worker (x) holds at most 5 of 32 layers"));
  const plan empty = partition(m, {}, no_overheads());
  CHECK_FALSE(empty.feasible);
  CHECK_THAT(empty.reason, Catch::Contains("pool is empty"));
}

TEST_CASE("baselines split equally or by memory and report when they do not fit", "[planner][baselines]") {
  const auto m = uniform(10, 1000);
  const std::vector<worker_profile> pool = {make("a", 8000, 1e9), make("b", 2000, 1e9), make("c", 100'000, 1e9)};
  const plan eq = equal_split(m, pool, no_overheads());
  REQUIRE(eq.stages.size() == 3);
  CHECK(eq.stages[0].layers == layer_range{0, 4});
  CHECK(eq.stages[1].layers == layer_range{4, 7});
  CHECK_FALSE(eq.feasible);  // b holds 2 layers, not 3
  CHECK_THAT(eq.reason, Catch::Contains("worker b needs"));
  const plan mp = memory_proportional(m, pool, no_overheads());
  REQUIRE(mp.feasible);
  int total = 0;
  for (const auto& s : mp.stages) total += s.layers.size();
  CHECK(total == 10);
  CHECK(mp.stages.back().worker_id == "c");
  CHECK(mp.stages.back().layers.size() == 9);  // 100000 / 110000 of 10 layers, largest remainder
}

TEST_CASE("evaluate rejects gaps, overlaps and a worker used twice", "[planner][partition]") {
  const auto m = uniform(4, 1000);
  const std::vector<worker_profile> pool = {make("a", 1'000'000, 1e9), make("b", 1'000'000, 1e9)};
  CHECK_FALSE(evaluate(m, pool, {{0, {0, 2}}, {1, {3, 4}}}, no_overheads()).feasible);
  CHECK_FALSE(evaluate(m, pool, {{0, {0, 2}}, {0, {2, 4}}}, no_overheads()).feasible);
  CHECK_FALSE(evaluate(m, pool, {{0, {0, 3}}}, no_overheads()).feasible);
  CHECK(evaluate(m, pool, {{1, {0, 1}}, {0, {1, 4}}}, no_overheads()).feasible);
}

TEST_CASE("a model whose last layer sends a different boundary is still position-free and planned exactly",
          "[planner][partition]") {
  auto m = uniform(6, 1000);
  m.layers.back().boundary_bytes_per_token = 123;  // into the head: never sent over a link
  const std::vector<worker_profile> pool = {make("a", 3500, 1e6, 1), make("b", 3500, 1e6, 2), make("c", 9000, 1e5, 1)};
  REQUIRE(tessera::planner::detail::position_free(m, pool));
  m.layers[2].param_bytes = 999;
  CHECK_FALSE(tessera::planner::detail::position_free(m, pool));
  planner_options o = no_overheads();
  for (objective goal : {objective::latency, objective::throughput}) {
    o.goal = goal;
    CHECK(partition(m, pool, o).predicted_ms_per_token == Approx(brute_force_partition(m, pool, o).predicted_ms_per_token));
  }
}

TEST_CASE("prefill of a plan sums its stages' prefill times", "[planner][partition]") {
  const auto m = uniform(4, 1000);
  const std::vector<worker_profile> pool = {make("a", 2500, 1e6, 3), make("b", 2500, 1e6, 5)};
  const plan p = evaluate(m, pool, {{0, {0, 2}}, {1, {2, 4}}}, no_overheads());
  REQUIRE(p.feasible);
  const cost_model cm(m, no_overheads());
  const double expect = cm.prefill_stage_ms(pool[0], {0, 2}, 64) + cm.prefill_stage_ms(pool[1], {2, 4}, 64);
  CHECK(predict_prefill_ms(m, pool, p, 64, no_overheads()) == Approx(expect));
  // 64 tokens of compute: 2 layers x 1000 FLOPs x 64 / 1e6 FLOP/s = 128 ms per stage.
  CHECK(expect > 2 * 128);
}
