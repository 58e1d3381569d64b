// The worker actor's side of the load probe (actors/worker_probe.hpp), with
// the socket, the planner and other workers replaced by recording callbacks:
// a Loaded waits for the probe's answer; the answer is checked, judged and
// the probe's sequence released; lies, errors and silence evict.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "actors/status_board.hpp"
#include "actors/worker_probe.hpp"
#include "net/proto/worker.pb.h"

using namespace tessera::actors;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace wire = tessera::wire;

namespace {

// A cut with a first stage "s1" (token ids in, hidden "h" [batch, sequence, 2] out).
std::shared_ptr<verify_registry> registry(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "manifest.json") << R"({"model": {"config": {"vocab_size": 10}}, "stages": [
    {"id": "s1", "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}],
     "outputs": [{"name": "h", "dtype": "float32", "shape": ["batch", "sequence", 2]}]}]})";
  std::ofstream(dir / "stage.onnx") << "graph";
  auto shards = std::make_shared<shard_registry>();
  shards->add("s1", "stage.onnx", {(dir / "stage.onnx").string(), "sha"});
  return std::make_shared<verify_registry>(shards);
}

struct recorder {
  std::vector<wire::ToWorker> frames;
  std::vector<shard_loaded> passed;
  std::vector<std::string> evicted;  // reasons handed to this worker's evict_self
};

struct prober {
  recorder rec;
  worker_guard guard;
  worker_probe probe;
  prober(std::shared_ptr<load_probe_cache> cache, std::shared_ptr<verify_registry> reg, node_config cfg)
      : guard(cfg, reg), probe(std::move(cache), 100, 10, links_for(rec, reg)) {
    guard.assigned("s1", "stage.onnx", 0, 1);
    guard.loaded("s1", true);
  }
  static worker_probe::links links_for(recorder& r, std::shared_ptr<verify_registry> reg) {
    worker_probe::links l;
    l.send = [&r](std::string bytes) {
      wire::ToWorker m;
      REQUIRE(m.ParseFromString(bytes));
      r.frames.push_back(m);
    };
    l.pass_on = [&r](shard_loaded s) { r.passed.push_back(s); };
    l.evict_self = [&r](const std::string& why) { r.evicted.push_back(why); };
    l.verify = std::move(reg);
    return l;
  }
};

shard_loaded loaded(uint64_t worker, const std::string& shard = "s1", bool ok = true) {
  shard_loaded l;
  l.worker_id = worker;
  l.shard_id = shard;
  l.ok = ok;
  return l;
}

// The worker's Result for the probe's Forward: hidden "h" [1, positions, 2] = base + index.
worker_frame answer(const wire::ToWorker& forward, float base) {
  worker_frame f;
  f.what = worker_frame::kind::result;
  f.request_id = forward.forward().request_id();
  f.sequence_id = forward.forward().sequence_id();
  tensor_blob t;
  t.name = "h";
  t.dtype = 1;
  uint32_t n = forward.forward().seq_len();
  t.shape = {1, n, 2};
  std::vector<float> v(n * 2);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = base + static_cast<float>(i);
  t.data.resize(v.size() * 4);
  std::memcpy(t.data.data(), v.data(), t.data.size());
  f.tensors = {t};
  return f;
}

struct fixture {
  fs::path dir = fs::temp_directory_path() / ("tessera-probe-test-" + std::to_string(::getpid()));
  std::shared_ptr<verify_registry> reg = registry(dir);
  std::shared_ptr<load_probe_cache> cache = std::make_shared<load_probe_cache>(
      5, 3, [](const std::string&, const std::string&) { return 2e-3; });
  node_config cfg;
  ~fixture() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE_METHOD(fixture, "a Loaded waits for the probe, which a sound answer passes on and releases") {
  prober p(cache, reg, cfg);
  auto now = worker_probe::clock_type::now();
  REQUIRE(p.probe.on_loaded(loaded(1), p.guard, now));
  CHECK(p.rec.passed.empty());
  REQUIRE(p.rec.frames.size() == 1);
  const auto& fw = p.rec.frames[0].forward();
  CHECK(fw.position() == 0);
  CHECK(fw.seq_len() == 3);
  CHECK(fw.token_ids_size() == 3);
  CHECK(fw.shard_id() == "s1");
  CHECK(fw.sequence_id() != fw.request_id());
  CHECK(fw.sampling().temperature() == 0);
  // A second Loaded of the shard (two Assigns of it) waits for the same probe.
  CHECK(p.probe.on_loaded(loaded(1), p.guard, now));
  CHECK(p.rec.frames.size() == 1);
  auto f = answer(p.rec.frames[0], 1.0f);
  CHECK_FALSE(p.probe.on_result(f, p.guard, 1, "w1", "cpu", now));
  REQUIRE(p.rec.passed.size() == 1);
  CHECK(p.rec.passed[0].shard_id == "s1");
  REQUIRE(p.rec.frames.size() == 2);
  CHECK(p.rec.frames[1].release().sequence_id() == fw.sequence_id());
  CHECK_FALSE(p.rec.frames[1].release().keep());
  // Passed once: the shard is not probed again on this worker.
  CHECK_FALSE(p.probe.on_loaded(loaded(1), p.guard, now));
}

TEST_CASE_METHOD(fixture, "a second holder that disagrees convicts the first; one that agrees confirms") {
  prober a(cache, reg, cfg), b(cache, reg, cfg), c(cache, reg, cfg);
  auto now = worker_probe::clock_type::now();
  REQUIRE(a.probe.on_loaded(loaded(1), a.guard, now));
  auto fa = answer(a.rec.frames[0], 1.0f);
  CHECK_FALSE(a.probe.on_result(fa, a.guard, 1, "w1", "cpu", now));
  REQUIRE(b.probe.on_loaded(loaded(2), b.guard, now));
  auto fb = answer(b.rec.frames[0], 2.0f);
  CHECK_FALSE(b.probe.on_result(fb, b.guard, 2, "w2", "cpu", now));  // b stays ...
  REQUIRE(a.rec.evicted.size() == 1);                                 // ... a, the earlier holder, goes
  CHECK(a.rec.evicted[0].find("load probe of layers 0-1: its answer differs from a second holder's, worker 2 (w2)") == 0);
  CHECK(reg->ban_reason("w1"));
  REQUIRE(c.probe.on_loaded(loaded(3), c.guard, now));
  auto fc = answer(c.rec.frames[0], 2.0f);
  CHECK_FALSE(c.probe.on_result(fc, c.guard, 3, "w3", "cpu", now));  // confirms b's answer
  auto d = prober(cache, reg, cfg);
  REQUIRE(d.probe.on_loaded(loaded(4), d.guard, now));
  auto fd = answer(d.rec.frames[0], 7.0f);
  auto out = d.probe.on_result(fd, d.guard, 4, "w4", "cpu", now);
  REQUIRE(out);
  CHECK(out->ban);
  CHECK(out->reason.find("load probe of layers 0-1 differs from the confirmed answer of worker 2 (w2) by") == 0);
  CHECK(d.rec.passed.empty());
}

TEST_CASE_METHOD(fixture, "a probe answered with a bad Result, a lie about loading, an error or nothing evicts") {
  auto now = worker_probe::clock_type::now();
  {
    prober p(cache, reg, cfg);
    REQUIRE(p.probe.on_loaded(loaded(1), p.guard, now));
    auto f = answer(p.rec.frames[0], 0.0f);
    f.tensors[0].data.assign(f.tensors[0].data.size(), '\0');  // all zeros: a constant hidden state
    auto out = p.probe.on_result(f, p.guard, 1, "w1", "cpu", now);
    REQUIRE(out);
    CHECK(out->reason.find("load probe of layers 0-1: bad result for shard s1") == 0);
    CHECK(p.rec.passed.empty());
  }
  {
    prober p(cache, reg, cfg);
    REQUIRE(p.probe.on_loaded(loaded(1), p.guard, now));
    worker_frame e;
    e.what = worker_frame::kind::error;
    e.request_id = p.rec.frames[0].forward().request_id();
    e.error_code = 2;
    e.error_message = "no stage loaded";
    auto lie = p.probe.on_error(e, p.guard);
    CHECK(lie.ban);
    CHECK(lie.reason == "load probe of layers 0-1: reported shard s1 Loaded but answers its step with \"no stage loaded\"");
    e.error_code = 4;
    e.error_message = "run failed";
    auto other = p.probe.on_error(e, p.guard);
    CHECK_FALSE(other.ban);
    CHECK(other.reason == "load probe of layers 0-1 answered with error 4: run failed");
  }
  {
    prober p(cache, reg, cfg);
    REQUIRE(p.probe.on_loaded(loaded(1), p.guard, now));
    CHECK_FALSE(p.probe.overdue(now + 120ms));  // deadline 100 ms + 10 ms x 3 positions
    auto late = p.probe.overdue(now + 140ms);
    REQUIRE(late);
    CHECK(late->find("load probe of layers 0-1 unanswered after 140 ms (deadline 130 ms)") == 0);
  }
}

TEST_CASE_METHOD(fixture, "no probe for a failed load or another shard; a new Assign voids the probe in flight") {
  prober p(cache, reg, cfg);
  auto now = worker_probe::clock_type::now();
  CHECK_FALSE(p.probe.on_loaded(loaded(1, "s1", false), p.guard, now));
  CHECK_FALSE(p.probe.on_loaded(loaded(1, "s9"), p.guard, now));
  CHECK(p.rec.frames.empty());
  REQUIRE(p.probe.on_loaded(loaded(1), p.guard, now));
  auto seq = p.rec.frames[0].forward().sequence_id();
  p.probe.on_assign();
  REQUIRE(p.rec.frames.size() == 2);
  CHECK(p.rec.frames[1].release().sequence_id() == seq);
  CHECK_FALSE(p.probe.answers(p.rec.frames[0].forward().request_id()));
  CHECK_FALSE(p.probe.overdue(now + 10s));
}
