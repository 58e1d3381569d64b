// Unit tests: each term of the cost model with hand-computed numbers.
#include <catch2/catch.hpp>

#include <cmath>

#include "planner/planner.hpp"

using namespace tessera::planner;

namespace {

// 4 layers of 100 MB, 1 GFLOP/token, 1 kB KV/token, 8 kB boundary; 50 MB
// embedding, 60 MB head (0.5 GFLOP), 1 MB prelude.
model_profile four_layers() {
  model_profile m;
  for (int l = 0; l < 4; ++l) m.layers.push_back({100'000'000, 1'000'000'000, 1'000, 8'000});
  m.embed_param_bytes = 50'000'000;
  m.head_param_bytes = 60'000'000;
  m.prelude_param_bytes = 1'000'000;
  m.head_flops_per_token = 500'000'000;
  return m;
}

planner_options opts() {
  planner_options o;
  o.context_tokens = 1000;
  o.concurrent_sequences = 2;
  o.scratch_bytes = 10'000'000;
  o.load_horizon_tokens = 100;
  return o;
}

worker_profile worker() {
  worker_profile w;
  w.id = "a";
  w.memory_bytes = 1'000'000'000;
  w.flops_per_s = 1e11;
  w.rtt_ms = 5;
  w.download_bytes_per_s = 1e6;
  w.upload_bytes_per_s = 2e6;
  return w;
}

}  // namespace

TEST_CASE("memory of a range counts weights, embedding on the first stage, head on the last, prelude, KV and scratch",
          "[planner][cost]") {
  const model_profile m = four_layers();
  const cost_model cm(m, opts());
  const uint64_t kv = 1'000ull * 1000 * 2;  // per layer: bytes/token × context × sequences
  CHECK(cm.weight_bytes({1, 3}) == 200'000'000 + 1'000'000);
  CHECK(cm.weight_bytes({0, 1}) == 100'000'000 + 1'000'000 + 50'000'000);
  CHECK(cm.weight_bytes({3, 4}) == 100'000'000 + 1'000'000 + 60'000'000);
  CHECK(cm.memory_bytes({1, 3}) == 201'000'000 + 2 * kv + 10'000'000);
  CHECK(cm.memory_bytes({0, 4}) == 400'000'000 + 111'000'000 + 4 * kv + 10'000'000);
  worker_profile w = worker();
  w.memory_bytes = cm.memory_bytes({1, 3});
  CHECK(cm.fits(w, {1, 3}));
  w.memory_bytes -= 1;
  CHECK_FALSE(cm.fits(w, {1, 3}));
  CHECK(std::isinf(cm.stage_ms(w, {1, 3})));
}

TEST_CASE("compute time is FLOPs over speed, with the head's FLOPs on the last stage", "[planner][cost]") {
  const model_profile m = four_layers();
  const cost_model cm(m, opts());
  const worker_profile w = worker();
  CHECK(cm.compute_ms(w, {0, 2}) == Approx(2e9 / 1e11 * 1000));         // 20 ms
  CHECK(cm.compute_ms(w, {2, 4}) == Approx(2.5e9 / 1e11 * 1000));       // 25 ms
  worker_profile measured = w;
  measured.measured_layer_ms = 3;  // a measured 3 ms per average layer overrides flops_per_s
  CHECK(cm.effective_flops_per_s(measured) == Approx(1e9 / 0.003));
  CHECK(cm.compute_ms(measured, {1, 3}) == Approx(6));
}

TEST_CASE("link time is RTT plus boundary bytes in over download and out over upload, with token ids at the ends",
          "[planner][cost]") {
  const model_profile m = four_layers();
  const cost_model cm(m, opts());
  const worker_profile w = worker();
  CHECK(cm.link_ms(w, {1, 3}) == Approx(5 + 8000 / 1e6 * 1000 + 8000 / 2e6 * 1000));  // 5 + 8 + 4
  CHECK(cm.link_ms(w, {0, 2}) == Approx(5 + 8 / 1e6 * 1000 + 8000 / 2e6 * 1000));
  CHECK(cm.link_ms(w, {2, 4}) == Approx(5 + 8000 / 1e6 * 1000 + 8 / 2e6 * 1000));
  CHECK(cm.link_ms(w, {0, 4}) == Approx(5 + 8 / 1e6 * 1000 + 8 / 2e6 * 1000));
}

TEST_CASE("load time counts only the weights a worker lacks, amortised over the horizon", "[planner][cost]") {
  const model_profile m = four_layers();
  worker_profile w = worker();
  const cost_model cm(m, opts());
  CHECK(cm.missing_bytes(w, {1, 3}) == 201'000'000);  // two layers + prelude
  CHECK(cm.load_ms(w, {1, 3}) == Approx(201e6 / 1e6 * 1000 / 100));
  w.cached_layers = {{2, 4}};
  CHECK(cm.missing_bytes(w, {1, 3}) == 100'000'000);  // layer 1 only; prelude held with any cache
  CHECK(cm.missing_bytes(w, {2, 4}) == 0);             // a cache reaching the last layer holds the head
  CHECK(cm.missing_bytes(w, {0, 2}) == 200'000'000 - 100'000'000 + 100'000'000 + 50'000'000);
  planner_options no_load = opts();
  no_load.load_horizon_tokens = 0;
  const cost_model cm0(m, no_load);
  CHECK(cm0.load_ms(worker(), {0, 4}) == 0);
  CHECK(cm.stage_ms(w, {1, 3}) == Approx(cm.compute_ms(w, {1, 3}) + cm.link_ms(w, {1, 3}) + cm.load_ms(w, {1, 3})));
}

TEST_CASE("the stage table equals stage_ms for every range", "[planner][cost]") {
  model_profile m = four_layers();
  m.layers[2].param_bytes = 7'000'000;
  worker_profile w = worker();
  w.cached_layers = {{0, 1}, {2, 3}};
  const cost_model cm(m, opts());
  const auto table = cm.stage_table(w);
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j <= 4; ++j) CHECK(table[static_cast<size_t>(i) * 5 + static_cast<size_t>(j)] == cm.stage_ms(w, {i, j}));
}

TEST_CASE("prefill scales compute and boundary bytes with the prompt length", "[planner][cost]") {
  const model_profile m = four_layers();
  const cost_model cm(m, opts());
  const worker_profile w = worker();
  CHECK(cm.prefill_stage_ms(w, {1, 3}, 100) == Approx(20 * 100 + 5 + 800 + 400));
  CHECK(cm.prefill_stage_ms(w, {0, 4}, 1) == Approx(cm.compute_ms(w, {0, 4}) + cm.link_ms(w, {0, 4})));
}
