// manifest.json: what the writer emits the reader gives back field for field;
// absent optional fields take their documented defaults; a bad manifest is
// rejected with an error naming the file and the problem.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/graph/stage_manifest.hpp"

using namespace tessera::model;

namespace {

stage_manifest two_stage_manifest() {
  stage_manifest m;
  m.model_name = "tiny";
  m.model_hash = std::string(64, 'a');
  m.num_layers = 4;
  m.config = {{"num_hidden_layers", 4}, {"hidden_size", 64}};
  m.head = token_head::sample;
  stage_info a;
  a.file = "stage_0_1.onnx";
  a.data_file = "stage_0_1.onnx.data";
  a.layers = {0, 1};
  a.id = std::string(64, 'b');
  a.bytes = 1234;
  a.inputs = {{"input_ids", "int64", {int64_t(1), std::string("sequence")}}};
  a.outputs = {{"hidden", "float16", {int64_t(1), std::string("sequence"), int64_t(64)}}};
  stage_info b = a;
  b.file = "stage_1_4.onnx";
  b.layers = {1, 4};
  b.inputs = a.outputs;
  b.outputs = {{"next_token", "int64", {int64_t(1)}}};
  m.stages = {a, b};
  return m;
}

std::string error_of(const nlohmann::json& j) {
  try {
    parse_stage_manifest(j, "m.json");
  } catch (const model_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a stage manifest written as JSON reads back field for field", "[manifest]") {
  const auto m = two_stage_manifest();
  const auto r = parse_stage_manifest(to_json(m), "m.json");
  CHECK(r.model_name == "tiny");
  CHECK(r.model_hash == m.model_hash);
  CHECK(r.num_layers == 4);
  CHECK(r.config == m.config);
  CHECK(r.head == token_head::sample);
  REQUIRE(r.stages.size() == 2);
  CHECK(r.stages[1].file == "stage_1_4.onnx");
  CHECK(r.stages[1].data_file == "stage_0_1.onnx.data");
  CHECK(r.stages[1].layers.begin == 1);
  CHECK(r.stages[1].layers.end == 4);
  CHECK(r.stages[0].id == m.stages[0].id);
  CHECK(r.stages[0].bytes == 1234);
  REQUIRE(r.stages[0].outputs.size() == 1);
  CHECK(r.stages[0].outputs[0].name == "hidden");
  CHECK(r.stages[0].outputs[0].dtype == "float16");
  CHECK(r.stages[0].outputs[0].shape == m.stages[0].outputs[0].shape);
  CHECK(to_json(r) == to_json(m));
}

TEST_CASE("a minimal manifest takes the documented defaults", "[manifest]") {
  const auto r = parse_stage_manifest(nlohmann::json::parse(R"({"model": {"num_layers": 2},
      "stages": [{"file": "s.onnx", "layers": [0, 2], "inputs": [{"name": "input_ids"}], "outputs": []}]})"),
                                      "m.json");
  CHECK(r.model_name.empty());
  CHECK(r.model_hash.empty());
  CHECK(r.config == nlohmann::json::object());
  CHECK(r.head == token_head::greedy);
  CHECK(r.stages[0].data_file.empty());
  CHECK(r.stages[0].bytes == 0);
  CHECK(r.stages[0].inputs[0].dtype == "float32");
  CHECK(r.stages[0].inputs[0].shape.empty());
}

TEST_CASE("a bad manifest is rejected naming the file and the problem", "[manifest][bad-input]") {
  auto j = to_json(two_stage_manifest());
  CHECK_THAT(error_of(nlohmann::json::object()), Catch::Contains("m.json: bad manifest"));
  auto no_layers = j;
  no_layers["model"].erase("num_layers");
  CHECK_THAT(error_of(no_layers), Catch::Contains("m.json: bad manifest"));
  auto gap = j;
  gap["stages"][1]["layers"] = {2, 4};
  CHECK_THAT(error_of(gap), Catch::Contains("m.json: gap in the stage list: layers 1:2 are in no stage"));
  auto short_cover = j;
  short_cover["model"]["num_layers"] = 5;
  CHECK_THAT(error_of(short_cover), Catch::Contains("m.json: stage list ends at layer 4 but the model has 5 layers"));
  auto bad_dim = j;
  bad_dim["stages"][0]["inputs"][0]["shape"] = {1, 2.5};
  CHECK_THAT(error_of(bad_dim), Catch::Contains("m.json: shape of input_ids has a dim that is neither a number nor a name"));
  auto bad_head = j;
  bad_head["head"] = "beam";
  CHECK_THAT(error_of(bad_head), Catch::Contains("beam"));
}
