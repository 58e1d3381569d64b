// What the node checks of one worker (actors/worker_guard.hpp): claims at
// Hello, Results against the stage's contract, lies about loading, deadlines,
// and the measured speed.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "actors/measured_speed.hpp"
#include "actors/messages.hpp"
#include "actors/status_board.hpp"
#include "actors/worker_guard.hpp"

using namespace tessera::actors;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

node_config limits() {
  node_config c;
  c.step_deadline_ms = 100;
  c.step_deadline_per_position_ms = 10;
  c.max_worker_flops = 1e13;
  c.max_worker_memory = 8ull << 30;
  return c;
}

worker_info hello(double flops, uint64_t memory = 1ull << 30, const std::string& name = "w") {
  worker_info h;
  h.name = name;
  h.flops_per_s = flops;
  h.memory_bytes = memory;
  return h;
}

// A cut directory with an inner stage "s1" (hidden [batch, sequence, 2]) and
// the last stage "s2" (a token), registered like the shard maker does.
std::shared_ptr<verify_registry> registry_with_stage(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "manifest.json") << R"({"model": {"config": {"vocab_size": 10}}, "stages": [
    {"id": "s1", "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}],
     "outputs": [{"name": "h", "dtype": "float32", "shape": ["batch", "sequence", 2]}]},
    {"id": "s2", "inputs": [{"name": "h", "dtype": "float32", "shape": ["batch", "sequence", 2]}],
     "outputs": [{"name": "next_token", "dtype": "int64", "shape": ["batch"]}]}]})";
  std::ofstream(dir / "stage.onnx") << "graph";
  std::ofstream(dir / "stage2.onnx") << "graph";
  auto shards = std::make_shared<shard_registry>();
  shards->add("s1", "stage.onnx", {(dir / "stage.onnx").string(), "sha"});
  shards->add("s2", "stage2.onnx", {(dir / "stage2.onnx").string(), "sha2"});
  return std::make_shared<verify_registry>(shards);
}

tensor_blob hidden(std::vector<float> v) {
  tensor_blob t;
  t.name = "h";
  t.dtype = 1;
  t.shape = {1, static_cast<int64_t>(v.size() / 2), 2};
  t.data.resize(v.size() * 4);
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

}  // namespace

TEST_CASE("non-finite, negative and absurd speed claims are refused at Hello, memory is capped", "[worker_guard]") {
  worker_guard g(limits(), nullptr);
  auto inf = hello(INFINITY);
  auto why = g.admit(inf);
  REQUIRE(why);
  CHECK(why->find("inf") != std::string::npos);
  auto nan = hello(NAN);
  CHECK(g.admit(nan));
  auto negative = hello(-1);
  CHECK(g.admit(negative));
  auto huge = hello(1e15, 1ull << 40);
  auto too_fast = g.admit(huge);
  REQUIRE(too_fast);
  CHECK(too_fast->find("max_worker_flops") != std::string::npos);
  auto big_memory = hello(1e10, 1ull << 40);
  CHECK_FALSE(g.admit(big_memory));
  CHECK(big_memory.memory_bytes == (8ull << 30));
  auto honest = hello(0);  // benchmark skipped: 0 is allowed
  CHECK_FALSE(g.admit(honest));
}

TEST_CASE("a banned name is refused with what it did", "[worker_guard]") {
  auto reg = std::make_shared<verify_registry>(nullptr);
  reg->ban("rogue", "tensor 'h' holds NaN at element 0");
  worker_guard g(limits(), reg);
  auto h = hello(1e9, 1 << 20, "rogue");
  auto why = g.admit(h);
  REQUIRE(why);
  CHECK(why->find("banned: tensor 'h' holds NaN") != std::string::npos);
  auto other = hello(1e9, 1 << 20, "honest");
  CHECK_FALSE(g.admit(other));
}

TEST_CASE("Results are checked against the contract read from the cut's manifest", "[worker_guard]") {
  auto dir = fs::temp_directory_path() / ("tessera-guard-" + std::to_string(::getpid()));
  auto reg = registry_with_stage(dir);
  worker_guard g(limits(), reg);
  g.assigned("s1", "stage.onnx", 0, 2);
  g.loaded("s1", true);
  auto t0 = worker_guard::clock_type::now();
  g.forward_sent(7, 2, t0);
  CHECK_FALSE(g.check_result(7, 2, {hidden({0.1f, 0.2f, 0.3f, 0.4f})}, {}, t0 + 1ms));
  g.forward_sent(8, 2, t0);
  auto nan = g.check_result(8, 2, {hidden({0.1f, NAN, 0.3f, 0.4f})}, {}, t0 + 1ms);
  REQUIRE(nan);
  CHECK(nan->find("NaN") != std::string::npos);
  g.forward_sent(9, 2, t0);
  CHECK(g.check_result(9, 2, {hidden({0.1f, 0.2f})}, {}, t0 + 1ms));  // one position instead of two
  fs::remove_all(dir);
}

TEST_CASE("a step that went out before a new Assign is checked against the stage it ran on", "[worker_guard]") {
  auto dir = fs::temp_directory_path() / ("tessera-guard-switch-" + std::to_string(::getpid()));
  auto reg = registry_with_stage(dir);
  worker_guard g(limits(), reg);
  g.assigned("s1", "stage.onnx", 0, 2);
  g.loaded("s1", true);
  auto t0 = worker_guard::clock_type::now();
  g.forward_sent(7, 2, t0);
  g.assigned("s2", "stage2.onnx", 2, 4);  // made a standby of another stage while step 7 runs
  CHECK_FALSE(g.check_result(7, 2, {hidden({0.1f, 0.2f, 0.3f, 0.4f})}, {}, t0 + 1ms));
  g.forward_sent(8, 2, t0 + 2ms);
  auto bad = g.check_result(8, 2, {hidden({0.1f, 0.2f, 0.3f, 0.4f})}, {}, t0 + 3ms);  // s2 answers a token
  REQUIRE(bad);
  CHECK(bad->find("shard s2") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("'no stage loaded' for the shard the worker reported Loaded is a lie", "[worker_guard]") {
  worker_guard g(limits(), nullptr);
  g.assigned("s1", "stage.onnx", 0, 2);
  CHECK_FALSE(g.check_error(2, "s1"));  // not Loaded yet: an honest refusal
  g.loaded("s1", true);
  auto lie = g.check_error(2, "s1");
  REQUIRE(lie);
  CHECK(lie->find("Loaded") != std::string::npos);
  CHECK_FALSE(g.check_error(2, "s0"));  // an old route's step: honest
  CHECK_FALSE(g.check_error(4, "s1"));  // a failed run is not a lie
  g.assigned("s2", "stage.onnx", 0, 2);
  CHECK_FALSE(g.check_error(2, "s1"));
}

TEST_CASE("a Forward past its deadline (base + per position) is overdue, answered or forgotten ones are not",
          "[worker_guard]") {
  worker_guard g(limits(), nullptr);
  auto t0 = worker_guard::clock_type::now();
  g.forward_sent(1, 10, t0);  // deadline 100 + 10 * 10 = 200 ms
  CHECK_FALSE(g.overdue(t0 + 150ms));
  auto late = g.overdue(t0 + 250ms);
  REQUIRE(late);
  CHECK(late->find("deadline 200 ms") != std::string::npos);
  CHECK_FALSE(g.check_result(1, 10, {}, {}, t0 + 260ms));
  CHECK_FALSE(g.overdue(t0 + 10s));
  g.forward_sent(2, 1, t0);
  g.forget(2);
  CHECK_FALSE(g.overdue(t0 + 10s));
}

TEST_CASE("the measured speed is an EWMA of wall ms per position over steps that had the worker alone",
          "[worker_guard]") {
  worker_guard g(limits(), nullptr);
  g.assigned("s1", "stage.onnx", 2, 5);
  auto t0 = worker_guard::clock_type::now();
  CHECK(g.ms_per_position() == 0);
  g.forward_sent(1, 4, t0);
  g.check_result(1, 4, {}, {}, t0 + 40ms);
  CHECK(g.ms_per_position() == Approx(10).epsilon(0.01));
  CHECK(g.measured_layer_begin() == 2);
  CHECK(g.measured_layer_end() == 5);
  g.forward_sent(2, 1, t0);
  g.check_result(2, 1, {}, {}, t0 + 20ms);
  CHECK(g.ms_per_position() == Approx(0.8 * 10 + 0.2 * 20).epsilon(0.01));
  // Two in flight at once: the second waited behind the first, so it is not timed.
  g.forward_sent(3, 1, t0);
  g.forward_sent(4, 1, t0);
  g.check_result(3, 1, {}, {}, t0 + 12ms);
  auto before = g.ms_per_position();
  g.check_result(4, 1, {}, {}, t0 + 500ms);
  CHECK(g.ms_per_position() == Approx(before));
}

TEST_CASE("the planner's speed is the measured one, never above the claim", "[worker_guard]") {
  tessera::planner::model_profile m;
  m.layers.resize(4);
  for (auto& l : m.layers)
    l.flops_per_token = 1000;
  m.embed_flops_per_token = 10;
  m.head_flops_per_token = 500;
  // Layers [1, 3): 2000 FLOP per position at 2 ms per position = 1e6 FLOP/s.
  CHECK(shown_flops_per_s(m, 1, 3, 2.0) == Approx(1e6));
  // The first stage counts the embedding, the last the head.
  CHECK(shown_flops_per_s(m, 0, 1, 1.0) == Approx(1010e3));
  CHECK(shown_flops_per_s(m, 3, 4, 1.0) == Approx(1500e3));
  CHECK(shown_flops_per_s(m, 1, 3, 0) == 0);
  CHECK(shown_flops_per_s(m, 1, 9, 1.0) == 0);
  CHECK(planned_flops_per_s(1e15, 1e6) == 1e6);  // a claim of 1e15 FLOP/s plans at what it showed
  CHECK(planned_flops_per_s(1e6, 1e9) == 1e6);   // a fast step is no reason to believe more than the claim
  CHECK(planned_flops_per_s(5e9, 0) == 5e9);     // not measured yet: the claim
}

TEST_CASE("an eviction's reason is read back from the error a worker actor quits with", "[worker_guard]") {
  CHECK(error_context(make_error(errc::evicted, "worker 3 (x) evicted: NaN"), errc::evicted) ==
        std::string("worker 3 (x) evicted: NaN"));
  CHECK_FALSE(error_context(make_error(errc::socket_closed, "gone"), errc::evicted));
  CHECK_FALSE(error_context(make_error(errc::evicted), errc::evicted));
  CHECK_FALSE(error_context(caf::error{}, errc::evicted));  // a worker that left normally
}

TEST_CASE("an unmeasured worker's claim is scaled like the measured workers' claims, never up", "[worker_guard]") {
  // Two measured workers show 1/100 and 1/50 of their claims: the median ratio is 1/50.
  auto planned = planned_speeds({{1e10, 1e8}, {1e10, 2e8}, {5e9, 0}});
  REQUIRE(planned.size() == 3);
  CHECK(planned[0] == Approx(1e8));
  CHECK(planned[1] == Approx(2e8));
  CHECK(planned[2] == Approx(5e9 / 50));
  // Nobody measured yet: claims as they are.
  auto fresh = planned_speeds({{1e10, 0}, {3e9, 0}});
  CHECK(fresh[0] == 1e10);
  CHECK(fresh[1] == 3e9);
  // A worker faster than it claimed does not raise anyone's speed.
  auto modest = planned_speeds({{1e9, 5e9}, {2e9, 0}});
  CHECK(modest[0] == 1e9);
  CHECK(modest[1] == 2e9);
}

TEST_CASE("a step queued behind others on the worker is timed from its turn, not from when it was sent",
          "[worker_guard]") {
  worker_guard g(limits(), nullptr);  // deadline 100 ms + 10 ms per position
  auto t0 = worker_guard::clock_type::now();
  g.forward_sent(1, 1, t0);
  g.forward_sent(2, 1, t0);
  g.forward_sent(3, 1, t0);
  CHECK_FALSE(g.check_result(1, 1, {}, {}, t0 + 90ms));
  CHECK_FALSE(g.check_result(2, 1, {}, {}, t0 + 180ms));
  CHECK_FALSE(g.overdue(t0 + 250ms));  // step 3's turn began at 180 ms
  auto late = g.overdue(t0 + 300ms);
  REQUIRE(late);
  CHECK(late->find("request 3") != std::string::npos);
}
