// Inspector on hand-built decoders: layers and boundary tensors are found from
// the structure (Optimum style: one residual; genai style: two tensors), the
// per-layer numbers match the weights, and bad input fails with a clear error.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/graph/graph_inspector.hpp"
#include "tests/model/graph_test_models.hpp"

namespace fs = std::filesystem;
using tessera::model::inspect_model;
using tessera::model::model_error;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("tessera-inspector-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

uint64_t named_weight_bytes(const fs::path& model_file, const std::string& prefix) {
  onnx::ModelProto m;
  std::ifstream in(model_file, std::ios::binary);
  m.ParseFromIstream(&in);
  uint64_t sum = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.name().rfind(prefix, 0) != 0) continue;
    uint64_t n = 4;
    for (auto d : t.dims()) n *= uint64_t(d);
    sum += n;
  }
  return sum;
}

}  // namespace

TEST_CASE("an Optimum-style decoder has one residual tensor per boundary and per-layer costs from its weights", "[inspector]") {
  temp_dir dir;
  tessera::test::toy_geometry geo;
  geo.layers = 3;
  tessera::test::write_optimum_style(dir.path, geo);
  auto s = inspect_model(dir.path.string());  // a model directory is accepted

  REQUIRE(s.num_layers == 3);
  REQUIRE(s.layers.size() == 3);
  REQUIRE(s.boundaries.size() == 4);
  for (int b = 0; b <= 3; ++b) {
    INFO("boundary " << b);
    REQUIRE(s.boundaries[b].size() == 1);
    CHECK(s.boundaries[b][0].bytes_per_token == uint64_t(geo.hidden) * 4);
    CHECK(s.boundaries[b][0].dtype == "float32");
  }
  CHECK(s.boundaries[0][0].name.rfind("/model/embed_tokens/", 0) == 0);
  CHECK(s.boundaries[1][0].name.rfind("/model/layers.0/Add", 0) == 0);
  CHECK(s.boundaries[2][0].name.rfind("/model/layers.1/Add", 0) == 0);
  CHECK(s.boundaries[3][0].name.rfind("/model/norm/", 0) == 0);  // the head is lm_head; the final norm ends the last layer
  // Reshapes driven by Shape(input_ids) leave batch/sequence as inferred symbols (unk__N), the width is known.
  REQUIRE(s.boundaries[1][0].shape.size() == 3);
  CHECK(s.boundaries[1][0].shape[2] == "8");

  const uint64_t matmul_weights = uint64_t(geo.hidden) * (geo.heads * geo.head_dim) * 2 +
                                  uint64_t(geo.hidden) * (geo.kv_heads * geo.head_dim) * 2 + uint64_t(geo.hidden) * geo.ffn * 2;
  for (int k = 0; k < 3; ++k) {
    INFO("layer " << k);
    const auto& l = s.layers[k];
    CHECK(l.index == k);
    uint64_t weights = named_weight_bytes(dir.path / "model.onnx", "model.layers." + std::to_string(k) + ".");
    CHECK(l.param_bytes >= weights);
    if (k == 2) weights += named_weight_bytes(dir.path / "model.onnx", "model.norm.");
    CHECK(l.param_bytes <= weights + 64);  // plus a few scalar constants (eps, scale, reshape target)
    CHECK(l.flops_per_token == 2 * matmul_weights);
    CHECK(l.kv_bytes_per_token == uint64_t(2) * geo.kv_heads * geo.head_dim * 4);
    CHECK(l.boundary_bytes_per_token == uint64_t(geo.hidden) * 4);
  }
  CHECK(s.embed_param_bytes == uint64_t(geo.vocab) * geo.hidden * 4);
  CHECK(s.hidden_bytes_per_token == uint64_t(geo.hidden) * 4);
  CHECK(s.head_param_bytes == uint64_t(geo.hidden) * geo.vocab * 4);  // lm_head
  CHECK(s.head_flops_per_token == uint64_t(2) * geo.hidden * geo.vocab);
  // The rotary table belongs to the prelude, not to any layer.
  CHECK(s.prelude_param_bytes >= uint64_t(geo.max_positions) * geo.head_dim * 4);
  CHECK(s.warnings.empty());
}

TEST_CASE("a genai-style decoder has two tensors crossing each boundary", "[inspector]") {
  temp_dir dir;
  tessera::test::toy_geometry geo;
  geo.layers = 4;
  tessera::test::write_genai_style(dir.path, geo);
  auto s = inspect_model((dir.path / "model.onnx").string());

  REQUIRE(s.num_layers == 4);
  for (int b = 1; b < 4; ++b) {
    INFO("boundary " << b);
    REQUIRE(s.boundaries[b].size() == 2);
    std::set<std::string> names{s.boundaries[b][0].name, s.boundaries[b][1].name};
    const std::string p = "/model/layers." + std::to_string(b) + "/input_layernorm/";
    CHECK(names == std::set<std::string>{p + "output_0", p + "output_3"});
    CHECK(s.layers[b - 1].boundary_bytes_per_token == uint64_t(2) * geo.hidden * 4);
  }
  for (const auto& l : s.layers) CHECK(l.kv_bytes_per_token == uint64_t(2) * geo.kv_heads * geo.head_dim * 4);
  // The fused norm at each boundary is named after the next layer: the cross-check notices.
  REQUIRE(s.warnings.size() == 1);
  CHECK(s.warnings[0].find("fused") != std::string::npos);
}

TEST_CASE("inspect --json carries num_layers and the per-layer fields", "[inspector]") {
  temp_dir dir;
  tessera::test::write_optimum_style(dir.path);
  auto j = nlohmann::json::parse(tessera::model::model_stats_json(inspect_model(dir.path.string())));
  REQUIRE(j["num_layers"] == 3);
  REQUIRE(j["layers"].size() == 3);
  for (const char* key : {"index", "param_bytes", "flops_per_token", "kv_bytes_per_token", "boundary_bytes_per_token"})
    CHECK(j["layers"][1].contains(key));
  CHECK(j["layers"][2]["index"] == 2);
  CHECK(j["boundaries"].size() == 4);
}

TEST_CASE("inspect --json of a real graph reads back to the same stats", "[inspector]") {
  temp_dir dir;
  tessera::test::write_genai_style(dir.path);
  const auto stats = inspect_model(dir.path.string());
  const auto text = tessera::model::model_stats_json(stats);
  const auto back = tessera::model::parse_model_stats_json(text, "inspect.json");
  CHECK(back.num_layers == stats.num_layers);
  CHECK(back.boundaries.size() == stats.boundaries.size());
  CHECK(back.warnings == stats.warnings);
  CHECK(tessera::model::model_stats_json(back) == text);
}

TEST_CASE("the inspector rejects bad input with an error that names the problem", "[inspector][bad-input]") {
  temp_dir dir;
  auto expect_error = [](const std::string& path, const std::string& fragment) {
    try {
      inspect_model(path);
      FAIL("no error for " << path);
    } catch (const model_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
  };
  SECTION("a missing file") { expect_error((dir.path / "nope.onnx").string(), "does not exist"); }
  SECTION("a directory without model.onnx") { expect_error(dir.path.string(), "no model.onnx"); }
  SECTION("a text file") {
    std::ofstream(dir.path / "notes.onnx") << "this is not a model, just some text\n";
    expect_error((dir.path / "notes.onnx").string(), "ONNX");
  }
  SECTION("a truncated protobuf") {
    tessera::test::write_optimum_style(dir.path / "m");
    auto size = fs::file_size(dir.path / "m" / "model.onnx");
    fs::resize_file(dir.path / "m" / "model.onnx", size / 2);
    expect_error((dir.path / "m").string(), "protobuf parse failed");
  }
  SECTION("a missing external data file") {
    tessera::test::write_optimum_style(dir.path / "m");
    fs::remove(dir.path / "m" / "model.onnx.data");
    expect_error((dir.path / "m").string(), "missing external data file");
  }
  SECTION("a too short external data file") {
    tessera::test::write_optimum_style(dir.path / "m");
    fs::resize_file(dir.path / "m" / "model.onnx.data", 100);
    expect_error((dir.path / "m").string(), "too short");
  }
  SECTION("a graph without a KV cache") {
    tessera::test::write_plain_mlp(dir.path / "m");
    expect_error((dir.path / "m").string(), "not a decoder");
  }
}
