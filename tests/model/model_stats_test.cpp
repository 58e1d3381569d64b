// The model_stats JSON format: what the writer emits the reader gives back
// field for field; a hand-written file needs only the planner's fields; a bad
// file is rejected with an error naming the file and the field.
#include <catch2/catch.hpp>

#include <string>

#include "model/base/model_error.hpp"
#include "model/base/model_stats.hpp"

using tessera::model::model_error;
using tessera::model::model_stats;
using tessera::model::model_stats_json;
using tessera::model::parse_model_stats_json;

namespace {

model_stats two_layer_stats() {
  model_stats s;
  s.name = "two";
  s.num_layers = 2;
  s.layers = {{0, 10, 20, 30, 40}, {1, 11, 21, 31, 41}};
  s.embed_param_bytes = 100;
  s.embed_flops_per_token = 7;
  s.hidden_bytes_per_token = 40;
  s.head_param_bytes = 200;
  s.head_flops_per_token = 300;
  s.prelude_param_bytes = 5;
  s.total_param_bytes = 326;
  s.boundaries = {{{"embed_out", "float32", {"batch", "sequence_length", "8"}, 32}},
                  {{"h1", "float16", {"1", "1", "8"}, 16}, {"h1_norm", "float16", {"1", "1", "8"}, 16}},
                  {}};
  s.warnings = {"layer 1: node name says layer 2"};
  return s;
}

std::string error_of(const std::string& text) {
  try {
    parse_model_stats_json(text, "s.json");
  } catch (const model_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model_stats written as JSON read back field for field", "[model_stats]") {
  const model_stats s = two_layer_stats();
  const model_stats r = parse_model_stats_json(model_stats_json(s), "s.json");
  CHECK(r.name == s.name);
  CHECK(r.num_layers == 2);
  REQUIRE(r.layers.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(r.layers[i].index == s.layers[i].index);
    CHECK(r.layers[i].param_bytes == s.layers[i].param_bytes);
    CHECK(r.layers[i].flops_per_token == s.layers[i].flops_per_token);
    CHECK(r.layers[i].kv_bytes_per_token == s.layers[i].kv_bytes_per_token);
    CHECK(r.layers[i].boundary_bytes_per_token == s.layers[i].boundary_bytes_per_token);
  }
  CHECK(r.embed_param_bytes == 100);
  CHECK(r.embed_flops_per_token == 7);
  CHECK(r.hidden_bytes_per_token == 40);
  CHECK(r.head_param_bytes == 200);
  CHECK(r.head_flops_per_token == 300);
  CHECK(r.prelude_param_bytes == 5);
  CHECK(r.total_param_bytes == 326);
  REQUIRE(r.boundaries.size() == 3);
  REQUIRE(r.boundaries[1].size() == 2);
  CHECK(r.boundaries[1][1].name == "h1_norm");
  CHECK(r.boundaries[1][1].dtype == "float16");
  CHECK(r.boundaries[1][1].shape == std::vector<std::string>{"1", "1", "8"});
  CHECK(r.boundaries[0][0].shape == std::vector<std::string>{"batch", "sequence_length", "8"});
  CHECK(r.boundaries[0][0].bytes_per_token == 32);
  CHECK(r.boundaries[2].empty());
  CHECK(r.warnings == s.warnings);
  // Writing what was read gives the same text: nothing is lost either way.
  CHECK(model_stats_json(r) == model_stats_json(s));
}

TEST_CASE("a hand-written stats file needs only the per-layer numbers, embed and head", "[model_stats]") {
  const auto r = parse_model_stats_json(R"({"layers": [{"param_bytes": 1, "flops_per_token": 2, "kv_bytes_per_token": 3,
      "boundary_bytes_per_token": 4}], "embed": {"param_bytes": 5}, "head": {"param_bytes": 6}})", "s.json");
  CHECK(r.num_layers == 1);
  CHECK(r.layers[0].kv_bytes_per_token == 3);
  CHECK(r.embed_param_bytes == 5);
  CHECK(r.head_param_bytes == 6);
  CHECK(r.embed_flops_per_token == 0);
  CHECK(r.prelude_param_bytes == 0);
  CHECK(r.boundaries.empty());
}

TEST_CASE("a bad stats file is rejected naming the file and the field", "[model_stats][bad-input]") {
  const std::string layer = R"({"param_bytes": 1, "flops_per_token": 2, "kv_bytes_per_token": 3, "boundary_bytes_per_token": 4})";
  const std::string tail = R"(, "embed": {"param_bytes": 5}, "head": {"param_bytes": 6})";
  CHECK_THAT(error_of("{"), Catch::Contains("s.json: malformed JSON"));
  CHECK_THAT(error_of(R"({"layers": []})" ), Catch::Contains("s.json: \"layers\" must be a non-empty array"));
  CHECK_THAT(error_of(R"({"layers": [{"param_bytes": 1}]})"),
             Catch::Contains("s.json: missing \"flops_per_token\" in layers[0]"));
  CHECK_THAT(error_of(R"({"layers": [)" + layer + R"(, {"param_bytes": -4, "flops_per_token": 2}])" + tail + "}"),
             Catch::Contains("\"param_bytes\" in layers[1] must be a non-negative integer, got -4"));
  CHECK_THAT(error_of(R"({"layers": [)" + layer + R"(], "head": {"param_bytes": 6}})"), Catch::Contains("missing \"embed\""));
  CHECK_THAT(error_of(R"({"layers": [)" + layer + "]" + tail + R"(, "boundaries": [[{"name": "x", "dtype": "float32",
      "shape": [1], "bytes_per_token": 4}]]})"),
             Catch::Contains("\"shape\" in boundaries[0][0] has a dim that is not a string: 1"));
  CHECK_THAT(error_of(R"({"layers": [)" + layer + "]" + tail + R"(, "warnings": [3]})"),
             Catch::Contains("\"warnings\" entry 3 must be a string"));
}
