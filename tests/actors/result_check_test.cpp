// A worker's Result against its stage's contract (actors/result_check.hpp).
#include <cmath>
#include <cstring>

#include <catch2/catch.hpp>

#include "actors/result_check.hpp"

using namespace tessera::actors;

namespace {

const char* kManifest = R"({
  "model": {"config": {"vocab_size": 259, "hidden_size": 4}},
  "stages": [
    {"id": "first", "layers": [0, 2],
     "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "total_sequence"]},
                {"name": "past_key_values.0.key", "dtype": "float32", "shape": ["batch", 2, "past_sequence", 8]}],
     "outputs": [{"name": "hidden", "dtype": "float32", "shape": ["batch", "sequence", 4]},
                 {"name": "present.0.key", "dtype": "float32", "shape": ["batch", 2, "total_sequence", 8]}]},
    {"id": "last", "layers": [2, 4],
     "inputs": [{"name": "hidden", "dtype": "float32", "shape": ["batch", "sequence", 4]},
                {"name": "random", "dtype": "float32", "shape": ["batch"]}],
     "outputs": [{"name": "next_token", "dtype": "int64", "shape": ["batch"]}]}
  ]
})";

stage_contract contract(const std::string& id) {
  std::string error;
  auto c = contract_from_manifest(kManifest, id, error);
  REQUIRE(c);
  return *c;
}

tensor_blob floats(const std::string& name, std::vector<int64_t> shape, std::vector<float> values) {
  tensor_blob t;
  t.name = name;
  t.dtype = 1;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<float> ramp(size_t n, float scale = 0.1f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(i) - 0.3f;
  return v;
}

}  // namespace

TEST_CASE("a stage's contract names its boundary tensors and leaves KV and runtime inputs out", "[result_check]") {
  auto first = contract("first");
  REQUIRE(first.outputs.size() == 1);
  CHECK(first.outputs[0].name == "hidden");
  CHECK(first.inputs.empty());
  CHECK_FALSE(first.emits_tokens);
  auto last = contract("last");
  CHECK(last.emits_tokens);
  CHECK(last.vocab_size == 259);
  REQUIRE(last.inputs.size() == 1);
  CHECK(last.inputs[0].name == "hidden");
  std::string error;
  CHECK_FALSE(contract_from_manifest(kManifest, "nope", error));
  CHECK(error.find("nope") != std::string::npos);
}

TEST_CASE("an honest hidden state passes, in float32 and in float16", "[result_check]") {
  auto c = contract("first");
  CHECK_FALSE(check_result(c, 3, {floats("hidden", {1, 3, 4}, ramp(12))}, {}));
  tensor_blob half;
  half.name = "hidden";
  half.dtype = 2;
  half.shape = {1, 1, 4};
  for (uint16_t h : {0x3c00, 0x4000, 0xbc00, 0x0000})  // 1, 2, -1, 0
    half.data.append(reinterpret_cast<const char*>(&h), 2);
  CHECK_FALSE(check_result(c, 1, {half}, {}));
}

TEST_CASE("a wrong shape, byte length, dtype, name or count of tensors is named", "[result_check]") {
  auto c = contract("first");
  auto shape = check_result(c, 3, {floats("hidden", {1, 4, 4}, ramp(16))}, {});
  REQUIRE(shape);
  CHECK(shape->find("[1,4,4]") != std::string::npos);
  CHECK(shape->find("[1,3,4]") != std::string::npos);
  auto bloated = floats("hidden", {1, 3, 4}, ramp(12));
  bloated.data.resize(32u << 20);
  auto bytes = check_result(c, 3, {bloated}, {});
  REQUIRE(bytes);
  CHECK(bytes->find("33554432 bytes") != std::string::npos);
  auto ints = floats("hidden", {1, 3, 4}, ramp(12));
  ints.dtype = 3;
  CHECK(check_result(c, 3, {ints}, {}));
  auto named = check_result(c, 3, {floats("other", {1, 3, 4}, ramp(12))}, {});
  REQUIRE(named);
  CHECK(named->find("'hidden' is missing") != std::string::npos);
  CHECK(check_result(c, 3, {}, {}));
  CHECK(check_result(c, 3, {floats("hidden", {1, 3, 4}, ramp(12))}, {7}));
}

TEST_CASE("NaN, infinity and a constant hidden state are refused", "[result_check]") {
  auto c = contract("first");
  auto v = ramp(12);
  v[5] = NAN;
  auto nan = check_result(c, 3, {floats("hidden", {1, 3, 4}, v)}, {});
  REQUIRE(nan);
  CHECK(nan->find("NaN at element 5") != std::string::npos);
  v[5] = INFINITY;
  auto inf = check_result(c, 3, {floats("hidden", {1, 3, 4}, v)}, {});
  REQUIRE(inf);
  CHECK(inf->find("infinity") != std::string::npos);
  auto zeros = check_result(c, 3, {floats("hidden", {1, 3, 4}, std::vector<float>(12, 0.0f))}, {});
  REQUIRE(zeros);
  CHECK(zeros->find("constant") != std::string::npos);
}

TEST_CASE("the last stage sends one token id inside the vocabulary", "[result_check]") {
  auto c = contract("last");
  CHECK_FALSE(check_result(c, 5, {}, {258}));
  CHECK_FALSE(check_result(c, 5, {}, {0}));
  auto big = check_result(c, 5, {}, {259});
  REQUIRE(big);
  CHECK(big->find("token id 259 is outside the vocabulary [0, 259)") != std::string::npos);
  CHECK(check_result(c, 5, {}, {int64_t(1) << 40}));
  CHECK(check_result(c, 5, {}, {-1}));
  CHECK(check_result(c, 5, {}, {1, 2}));
  CHECK(check_result(c, 5, {}, {}));
  CHECK(check_result(c, 5, {floats("hidden", {1, 1, 4}, ramp(4))}, {1}));
}

TEST_CASE("relative difference compares tensors of the same name and shape", "[result_check]") {
  auto a = floats("hidden", {1, 1, 4}, {1.0f, 2.0f, -4.0f, 0.5f});
  auto b = floats("hidden", {1, 1, 4}, {1.0f, 2.04f, -4.0f, 0.5f});
  auto d = relative_difference({b}, {a});
  REQUIRE(d);
  CHECK(*d == Approx(0.01).margin(1e-6));
  CHECK(*relative_difference({a}, {a}) == 0.0);
  CHECK_FALSE(relative_difference({floats("other", {1, 1, 4}, ramp(4))}, {a}));
  CHECK_FALSE(relative_difference({floats("hidden", {1, 2, 2}, ramp(4))}, {a}));
}
