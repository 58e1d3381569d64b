// Cutter on hand-built decoders: each stage is a checked standalone model with
// the contract's inputs and outputs, boundary names match across stages, the
// prelude is recomputed per stage, weights are copied byte for byte into one
// data file per stage, ids are stable, and bad input leaves nothing behind.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "model/base/model_error.hpp"
#include "model/graph/graph_cutter.hpp"
#include "model/graph/stage_manifest.hpp"
#include "tests/model/graph_test_models.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("tessera-cutter-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

onnx::ModelProto read_proto(const fs::path& p) {
  onnx::ModelProto m;
  std::ifstream in(p, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  return m;
}

std::vector<std::string> names(const std::vector<tensor_spec>& specs) {
  std::vector<std::string> out;
  for (const auto& s : specs) out.push_back(s.name);
  return out;
}

std::set<std::string> initializer_names(const onnx::ModelProto& m) {
  std::set<std::string> out;
  for (const auto& t : m.graph().initializer()) out.insert(t.name());
  return out;
}

std::string read_range(const fs::path& file, uint64_t offset, uint64_t length) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(std::streamoff(offset));
  std::string s(length, '\0');
  in.read(s.data(), std::streamsize(length));
  REQUIRE(in.gcount() == std::streamsize(length));
  return s;
}

std::map<std::string, std::string> external_fields(const onnx::TensorProto& t) {
  std::map<std::string, std::string> f;
  for (const auto& e : t.external_data()) f[e.key()] = e.value();
  return f;
}

split_options plan(const std::string& stages, int layers, token_head head = token_head::greedy) {
  split_options o;
  o.stages = parse_stage_list(stages, layers);
  o.head = head;
  return o;
}

}  // namespace

TEST_CASE("an Optimum-style decoder splits into standalone stages that chain by tensor name", "[cutter]") {
  temp_dir dir;
  tessera::test::toy_geometry geo;
  geo.layers = 3;
  tessera::test::write_optimum_style(dir.path / "model", geo);
  auto out = dir.path / "stages";
  auto result = split_model((dir.path / "model").string(), out.string(), plan("0:1,1:3", 3));

  REQUIRE(result.stages.size() == 2);
  REQUIRE(fs::is_regular_file(out / "manifest.json"));
  auto manifest = load_stage_manifest(out.string());
  REQUIRE(manifest.num_layers == 3);
  REQUIRE(manifest.head == token_head::greedy);
  REQUIRE(manifest.model_hash == result.model_hash);
  REQUIRE(manifest.stages.size() == 2);

  const auto& s0 = manifest.stages[0];
  const auto& s1 = manifest.stages[1];
  CHECK(s0.file == "stage_0_1.onnx");
  CHECK(s0.data_file == "stage_0_1.onnx.data");
  CHECK(s1.file == "stage_1_3.onnx");
  REQUIRE(names(s0.inputs) == std::vector<std::string>{"input_ids", "attention_mask", "position_ids",
                                                      "past_key_values.0.key", "past_key_values.0.value"});
  REQUIRE(s0.outputs.size() == 3);
  const std::string boundary = s0.outputs[0].name;
  CHECK(boundary.rfind("/model/layers.0/Add", 0) == 0);
  CHECK(names(s0.outputs) == std::vector<std::string>{boundary, "present.0.key", "present.0.value"});
  CHECK(names(s1.inputs) == std::vector<std::string>{boundary, "attention_mask", "position_ids", "past_key_values.1.key",
                                                     "past_key_values.1.value", "past_key_values.2.key", "past_key_values.2.value"});
  CHECK(names(s1.outputs) == std::vector<std::string>{"present.1.key", "present.1.value", "present.2.key", "present.2.value",
                                                      "next_token"});
  // Boundary specs carry dtype and a shape with symbolic dims by name.
  CHECK(s1.inputs[0].dtype == "float32");
  REQUIRE(s1.inputs[0].shape.size() == 3);
  CHECK(std::holds_alternative<std::string>(s1.inputs[0].shape[0]));
  CHECK(std::get<int64_t>(s1.inputs[0].shape[2]) == geo.hidden);
  CHECK(s1.outputs.back().dtype == "int64");

  auto m0 = read_proto(out / s0.file);
  auto m1 = read_proto(out / s1.file);
  // The prelude (mask bias from attention_mask, rotary table lookup) is in both stages.
  for (const auto* m : {&m0, &m1}) {
    bool has_mask_cast = false;
    for (const auto& n : m->graph().node()) has_mask_cast |= n.op_type() == "Cast" && n.input(0) == "attention_mask";
    CHECK(has_mask_cast);
    CHECK(initializer_names(*m).count("model.rotary.cos_cached"));
    CHECK(m->ir_version() == 8);
  }
  // Only the weights a stage uses.
  auto i0 = initializer_names(m0), i1 = initializer_names(m1);
  CHECK(i0.count("model.embed_tokens.weight"));
  CHECK(i0.count("model.layers.0.mlp.down_proj.weight"));
  CHECK_FALSE(i0.count("model.layers.1.mlp.down_proj.weight"));
  CHECK_FALSE(i0.count("lm_head.weight"));
  CHECK_FALSE(i1.count("model.embed_tokens.weight"));
  CHECK_FALSE(i1.count("model.layers.0.self_attn.q_proj.weight"));
  CHECK(i1.count("model.layers.2.self_attn.q_proj.weight"));
  CHECK(i1.count("lm_head.weight"));

  // Every external weight is copied byte for byte into the stage's own data file.
  auto source = read_proto(dir.path / "model" / "model.onnx");
  std::map<std::string, onnx::TensorProto> source_inits;
  for (const auto& t : source.graph().initializer()) source_inits[t.name()] = t;
  size_t copied = 0;
  for (const auto& [m, s] : {std::pair{&m0, &s0}, std::pair{&m1, &s1}}) {
    uint64_t data_size = fs::file_size(out / s->data_file);
    CHECK(s->bytes == fs::file_size(out / s->file) + data_size);
    for (const auto& t : m->graph().initializer()) {
      if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
      auto f = external_fields(t);
      CHECK(f["location"] == s->data_file);
      auto src = external_fields(source_inits.at(t.name()));
      auto got = read_range(out / s->data_file, std::stoull(f["offset"]), std::stoull(f["length"]));
      auto want = read_range(dir.path / "model" / "model.onnx.data", std::stoull(src["offset"]), std::stoull(src["length"]));
      CHECK(got == want);
      ++copied;
    }
  }
  CHECK(copied > 10);
  CHECK(fs::is_regular_file(out / "stage_0_1.onnx.data"));
  // Nothing else is left next to the output.
  for (const auto& e : fs::directory_iterator(dir.path)) CHECK((e.path().filename() == "model" || e.path().filename() == "stages"));
}

TEST_CASE("a genai-style decoder passes two tensors across each stage boundary", "[cutter]") {
  temp_dir dir;
  tessera::test::toy_geometry geo;
  geo.layers = 4;
  tessera::test::write_genai_style(dir.path / "model", geo);
  auto result = split_model((dir.path / "model").string(), (dir.path / "out").string(), plan("0:1,1:3,3:4", 4, token_head::logits));
  REQUIRE(result.stages.size() == 3);
  for (int i = 0; i + 1 < 3; ++i) {
    const auto& prev = result.stages[i];
    const auto& next = result.stages[i + 1];
    const std::string p = "/model/layers." + std::to_string(next.layers.begin) + "/input_layernorm/";
    auto out = names(prev.outputs), in = names(next.inputs);
    REQUIRE(out.size() > 2);
    REQUIRE(in.size() > 2);
    CHECK(std::vector<std::string>(out.begin(), out.begin() + 2) == std::vector<std::string>{p + "output_0", p + "output_3"});
    CHECK(std::vector<std::string>(in.begin(), in.begin() + 2) == std::vector<std::string>{p + "output_0", p + "output_3"});
  }
  CHECK(names(result.stages[2].outputs).back() == "logits");
  // SimplifiedLayerNormalization is an ORT op in the default domain: the source fails the
  // onnx checker, so the stages are not checked and the user is told why.
  bool told = false;
  for (const auto& w : result.warnings) told |= w.find("fails the onnx checker") != std::string::npos;
  CHECK(told);
}

TEST_CASE("a tensor that skips a stage is passed through it under the same name", "[cutter]") {
  temp_dir dir;
  tessera::test::toy_geometry geo;
  geo.layers = 3;
  tessera::test::write_optimum_style(dir.path / "model", geo, true);
  auto result = split_model((dir.path / "model").string(), (dir.path / "out").string(), plan("0:1,1:2,2:3", 3, token_head::logits));
  REQUIRE(result.stages.size() == 3);
  auto in = names(result.stages[1].inputs), out = names(result.stages[1].outputs);
  REQUIRE(in.size() == 6);
  REQUIRE(out.size() == 4);
  // Two boundary tensors: the residual and the embedding (consumed only by the last stage).
  std::set<std::string> ins(in.begin(), in.begin() + 2), outs(out.begin(), out.begin() + 2);
  std::string embedding;
  for (const auto& n : ins)
    if (n.rfind("/model/embed_tokens/", 0) == 0) embedding = n;
  REQUIRE_FALSE(embedding.empty());
  CHECK(outs.count(embedding));
  CHECK(names(result.stages[2].inputs)[0] != names(result.stages[2].inputs)[1]);
}

TEST_CASE("the sample head takes temperature, top_k, top_p and random and returns next_token", "[cutter]") {
  temp_dir dir;
  tessera::test::write_optimum_style(dir.path / "model");
  auto result = split_model((dir.path / "model").string(), (dir.path / "out").string(), plan("0:3", 3, token_head::sample));
  REQUIRE(result.stages.size() == 1);
  auto in = names(result.stages[0].inputs);
  for (const char* n : {"input_ids", "temperature", "top_k", "top_p", "random"})
    CHECK(std::find(in.begin(), in.end(), n) != in.end());
  CHECK(names(result.stages[0].outputs).back() == "next_token");
  auto m = read_proto(dir.path / "out" / "stage_0_3.onnx");
  std::set<std::string> ops;
  for (const auto& n : m.graph().node()) ops.insert(n.op_type());
  for (const char* op : {"TopK", "Softmax", "CumSum", "ArgMax", "GatherElements"}) CHECK(ops.count(op));
}

TEST_CASE("stage ids are stable and depend on the model, the range and the last stage's head", "[cutter]") {
  temp_dir dir;
  tessera::test::write_optimum_style(dir.path / "model");
  auto model = (dir.path / "model").string();
  auto a = split_model(model, (dir.path / "a").string(), plan("0:1,1:3", 3));
  auto b = split_model(model, (dir.path / "b").string(), plan("0:1,1:3", 3));
  auto c = split_model(model, (dir.path / "c").string(), plan("0:1,1:3", 3, token_head::sample));
  auto d = split_model(model, (dir.path / "d").string(), plan("0:2,2:3", 3));
  CHECK(a.stages[0].id == b.stages[0].id);
  CHECK(a.stages[1].id == b.stages[1].id);
  CHECK(a.stages[0].id == c.stages[0].id);  // same file: the head is only in the last stage
  CHECK(a.stages[1].id != c.stages[1].id);
  CHECK(a.stages[0].id != d.stages[0].id);
  CHECK(a.stages[0].id.size() == 64);
  CHECK(a.model_hash == d.model_hash);  // the model hash does not depend on the plan
  CHECK(a.model_hash == c.model_hash);
  // Re-splitting into an existing directory replaces it.
  auto again = split_model(model, (dir.path / "a").string(), plan("0:3", 3));
  CHECK(load_stage_manifest((dir.path / "a").string()).stages.size() == 1);
  CHECK_FALSE(fs::exists(dir.path / "a" / "stage_0_1.onnx"));
}

TEST_CASE("stage lists must cover the layers in order without overlap or gap", "[cutter][bad-input]") {
  auto expect_error = [](const std::string& list, const std::string& fragment) {
    try {
      parse_stage_list(list, 8);
      FAIL("no error for " << list);
    } catch (const model_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
  };
  CHECK(parse_stage_list("0:2,2:5,5:8", 8).size() == 3);
  expect_error("0:3,2:8", "overlaps");
  expect_error("0:2,3:8", "gap");
  expect_error("0:4,4:9", "exceeds");
  expect_error("0:4", "ends at layer 4");
  expect_error("0:4,4:4,4:8", "empty");
  expect_error("0-4,4:8", "expected A:B");
  expect_error("0:x,4:8", "not a layer index");
  expect_error("", "empty stage list");
  CHECK_THROWS_AS(parse_token_head("beam"), model_error);
  CHECK(parse_token_head("sample") == token_head::sample);
}

TEST_CASE("a failed split names the problem and leaves no partial output", "[cutter][bad-input]") {
  temp_dir dir;
  tessera::test::write_optimum_style(dir.path / "model");
  auto out = dir.path / "out";
  fs::create_directories(out);
  std::ofstream(out / "marker") << "old";
  auto expect_error = [&](const std::string& model, const split_options& o, const std::string& fragment) {
    try {
      split_model(model, out.string(), o);
      FAIL("no error");
    } catch (const model_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
    CHECK(fs::is_regular_file(out / "marker"));  // the old output is untouched
    for (const auto& e : fs::directory_iterator(dir.path)) {
      auto name = e.path().filename().string();
      CHECK((name == "model" || name == "out" || name == "bad"));
    }
  };
  SECTION("a stage list beyond the layers") {
    split_options o;
    o.stages = {{0, 2}, {2, 4}};
    expect_error((dir.path / "model").string(), o, "exceeds");
  }
  SECTION("a missing data file") {
    fs::remove(dir.path / "model" / "model.onnx.data");
    expect_error((dir.path / "model").string(), plan("0:3", 3), "missing external data file");
  }
  SECTION("not a decoder") {
    tessera::test::write_plain_mlp(dir.path / "bad");
    expect_error((dir.path / "bad").string(), plan("0:3", 3), "not a decoder");
  }
  SECTION("not ONNX") {
    fs::create_directories(dir.path / "bad");
    std::ofstream(dir.path / "bad" / "model.onnx") << "{\"json\": true}";
    expect_error((dir.path / "bad").string(), plan("0:3", 3), "ONNX");
  }
}
