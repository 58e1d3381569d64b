// The load probe's pure parts (actors/load_probe.hpp): probe inputs are a
// function of the seed, and the cache's confirm and guilt rule; the backend
// pair tolerance table (actors/backend_tolerance.hpp).
#include <cstring>

#include <catch2/catch.hpp>

#include "actors/backend_tolerance.hpp"
#include "actors/load_probe.hpp"

using namespace tessera::actors;

namespace {

stage_contract inner_stage() {
  stage_contract c;
  c.shard_id = "s1";
  c.vocab_size = 100;
  expected_tensor in{"hidden_in", {{expected_dim::kind::batch, 0}, {expected_dim::kind::sequence, 0},
                                   {expected_dim::kind::fixed, 8}}};
  c.inputs = {in};
  c.outputs = {in};
  return c;
}

stage_contract first_stage() {
  auto c = inner_stage();
  c.inputs.clear();
  return c;
}

tensor_blob hidden(float scale, uint32_t positions = 3) {
  tensor_blob t;
  t.name = "hidden_out";
  t.dtype = 1;
  t.shape = {1, positions, 4};
  std::vector<float> v(positions * 4);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = scale * (static_cast<float>(i) - 5.0f);
  t.data.resize(v.size() * sizeof(float));
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

struct evictions {
  std::vector<std::pair<uint64_t, std::string>> log;
};

probe_answer answer(uint64_t worker, float scale, evictions& ev, const std::string& backend = "cpu") {
  probe_answer a;
  a.tensors = {hidden(scale)};
  a.backend = backend;
  a.worker_id = worker;
  a.worker_name = "w" + std::to_string(worker);
  a.evict = [&ev, worker](const std::string& r) { ev.log.emplace_back(worker, r); };
  return a;
}

probe_answer token(uint64_t worker, int64_t id) {
  probe_answer a;
  a.token_ids = {id};
  a.backend = "cpu";
  a.worker_id = worker;
  a.worker_name = "w" + std::to_string(worker);
  return a;
}

load_probe_cache cache_with(double same = 2e-3, double cpu_wasm = 2e-3) {
  backend_tolerances t;
  t.same = same;
  t.cpu_wasm = cpu_wasm;
  return load_probe_cache(7, 3, [t](const std::string& a, const std::string& b) { return t.of(a, b); });
}

}  // namespace

TEST_CASE("probe inputs are the same for a seed and differ between seeds") {
  std::string error;
  auto a = make_probe_input(inner_stage(), 42, 3, error);
  auto b = make_probe_input(inner_stage(), 42, 3, error);
  auto c = make_probe_input(inner_stage(), 43, 3, error);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  REQUIRE(a->tensors.size() == 1);
  CHECK(a->tensors[0].name == "hidden_in");
  CHECK(a->tensors[0].dtype == 1);
  CHECK(a->tensors[0].shape == std::vector<int64_t>{1, 3, 8});
  CHECK(a->tensors[0].data.size() == 3 * 8 * sizeof(float));
  CHECK(a->tensors[0].data == b->tensors[0].data);
  CHECK(a->tensors[0].data != c->tensors[0].data);
  std::vector<float> v(24);
  std::memcpy(v.data(), a->tensors[0].data.data(), a->tensors[0].data.size());
  bool varied = false;
  for (float x : v) {
    CHECK(x >= -1.0f);
    CHECK(x < 1.0f);
    varied = varied || x != v[0];
  }
  CHECK(varied);
  CHECK(a->token_ids.empty());
}

TEST_CASE("a first stage's probe is token ids inside the vocabulary") {
  std::string error;
  auto a = make_probe_input(first_stage(), 42, 4, error);
  auto b = make_probe_input(first_stage(), 42, 4, error);
  auto c = make_probe_input(first_stage(), 9, 4, error);
  REQUIRE(a);
  CHECK(a->tensors.empty());
  REQUIRE(a->token_ids.size() == 4);
  for (auto id : a->token_ids) {
    CHECK(id >= 0);
    CHECK(id < 100);
  }
  CHECK(a->token_ids == b->token_ids);
  CHECK(a->token_ids != c->token_ids);
  auto none = first_stage();
  none.vocab_size = 0;
  CHECK_FALSE(make_probe_input(none, 1, 3, error));
  CHECK(error.find("vocabulary size is 0") != std::string::npos);
}

TEST_CASE("an input dimension the probe cannot fill is refused with its name") {
  auto c = inner_stage();
  c.inputs[0].dims[2].size = 0;
  std::string error;
  CHECK_FALSE(make_probe_input(c, 1, 3, error));
  CHECK(error.find("hidden_in") != std::string::npos);
}

TEST_CASE("the first answer is provisional and the next agreeing holder confirms it") {
  auto cache = cache_with();
  evictions ev;
  auto v1 = cache.judge("s1", "0-2", answer(1, 1.0f, ev));
  CHECK(v1.kind == probe_verdict_kind::provisional);
  auto v2 = cache.judge("s1", "0-2", answer(2, 1.0f, ev));
  CHECK(v2.kind == probe_verdict_kind::confirms);
  CHECK(v2.holder_id == 1);
  // Confirmed: a third holder that differs is guilty itself.
  auto v3 = cache.judge("s1", "0-2", answer(3, 2.0f, ev));
  CHECK(v3.kind == probe_verdict_kind::newcomer_guilty);
  CHECK(v3.reason.find("load probe of layers 0-2 differs from the confirmed answer of worker 1 (w1) by 1 (tolerance 0.002)") == 0);
  CHECK(v3.difference > 0.4);
  CHECK_FALSE(v3.evict_holder);
  auto v4 = cache.judge("s1", "0-2", answer(4, 1.0f, ev));
  CHECK(v4.kind == probe_verdict_kind::agrees);
  CHECK(ev.log.empty());
  CHECK(cache.entries() == 1);
}

TEST_CASE("against an unconfirmed answer the earlier holder is guilty and the newcomer's answer is kept") {
  auto cache = cache_with();
  evictions ev;
  CHECK(cache.judge("s1", "0-2", answer(1, 2.0f, ev)).kind == probe_verdict_kind::provisional);
  auto v = cache.judge("s1", "0-2", answer(2, 1.0f, ev));
  REQUIRE(v.kind == probe_verdict_kind::holder_guilty);
  CHECK(v.holder_id == 1);
  CHECK(v.holder_name == "w1");
  CHECK(v.reason.find("load probe of layers 0-2: its answer differs from a second holder's, worker 2 (w2), by ") == 0);
  REQUIRE(v.evict_holder);
  v.evict_holder(v.reason);
  REQUIRE(ev.log.size() == 1);
  CHECK(ev.log[0].first == 1);
  // The newcomer's answer is the unconfirmed one now: a third that agrees with it confirms it.
  auto v3 = cache.judge("s1", "0-2", answer(3, 1.0f, ev));
  CHECK(v3.kind == probe_verdict_kind::confirms);
  CHECK(v3.holder_id == 2);
}

TEST_CASE("a worker contradicting its own earlier answer is guilty") {
  auto cache = cache_with();
  evictions ev;
  cache.judge("s1", "0-2", answer(1, 1.0f, ev));
  CHECK(cache.judge("s1", "0-2", answer(1, 1.0f, ev)).kind == probe_verdict_kind::agrees);
  auto v = cache.judge("s1", "0-2", answer(1, 3.0f, ev));
  CHECK(v.kind == probe_verdict_kind::newcomer_guilty);
  CHECK(v.reason.find("differs from its own earlier answer by") != std::string::npos);
}

TEST_CASE("answers are kept per shard and layer range") {
  auto cache = cache_with();
  evictions ev;
  cache.judge("s1", "0-2", answer(1, 1.0f, ev));
  CHECK(cache.judge("s2", "0-2", answer(2, 5.0f, ev)).kind == probe_verdict_kind::provisional);
  CHECK(cache.judge("s1", "2-4", answer(3, 5.0f, ev)).kind == probe_verdict_kind::provisional);
  CHECK(cache.entries() == 3);
}

TEST_CASE("the tolerance is the backend pair's") {
  // A difference of 1e-3 relative: within 2e-3 for one backend, outside 5e-4.
  auto strict_same = cache_with(5e-4, 2e-3);
  evictions ev;
  auto near = [&](uint64_t w, const std::string& backend) {
    auto a = answer(w, 1.0f, ev, backend);
    auto* f = reinterpret_cast<float*>(a.tensors[0].data.data());
    f[0] += 0.006f;  // |max| of the reference is 6: 1e-3 relative
    return a;
  };
  strict_same.judge("s1", "0-2", answer(1, 1.0f, ev, "cpu"));
  auto v = strict_same.judge("s1", "0-2", near(2, "wasm"));
  CHECK(v.kind == probe_verdict_kind::confirms);
  CHECK(v.tolerance == Approx(2e-3));
  auto w = strict_same.judge("s1", "0-2", near(3, "cpu"));
  CHECK(w.kind == probe_verdict_kind::newcomer_guilty);
  CHECK(w.tolerance == Approx(5e-4));
}

TEST_CASE("a last stage's probe answers are token ids, equal or not") {
  auto cache = cache_with();
  CHECK(cache.judge("h", "2-4", token(1, 17)).kind == probe_verdict_kind::provisional);
  CHECK(cache.judge("h", "2-4", token(2, 17)).kind == probe_verdict_kind::confirms);
  auto v = cache.judge("h", "2-4", token(3, 18));
  CHECK(v.kind == probe_verdict_kind::newcomer_guilty);
  CHECK(v.reason == "load probe of layers 2-4 answers token ids {18} where the confirmed answer of worker 1 (w1) has {17}");
}

TEST_CASE("a holder that left is convicted without an eviction to send") {
  auto cache = cache_with();
  evictions ev;
  cache.judge("s1", "0-2", answer(1, 2.0f, ev));
  cache.left(1);
  auto v = cache.judge("s1", "0-2", answer(2, 1.0f, ev));
  CHECK(v.kind == probe_verdict_kind::holder_guilty);
  CHECK_FALSE(v.evict_holder);
}

TEST_CASE("backends come from the Hello's device and pairs are unordered") {
  CHECK(backend_of("node-cpu") == "cpu");
  CHECK(backend_of("wasm") == "wasm");
  CHECK(backend_of("webgpu") == "webgpu");
  CHECK(backend_of("toaster") == "other");
  backend_tolerances t{1e-3, 2e-3, 3e-3, 4e-3};
  CHECK(t.of("cpu", "cpu") == 1e-3);
  CHECK(t.of("wasm", "wasm") == 1e-3);
  CHECK(t.of("cpu", "wasm") == 2e-3);
  CHECK(t.of("wasm", "cpu") == 2e-3);
  CHECK(t.of("webgpu", "cpu") == 3e-3);
  CHECK(t.of("wasm", "webgpu") == 4e-3);
  CHECK(t.of("other", "cpu") == 4e-3);  // unknown: the loosest of the table
}
