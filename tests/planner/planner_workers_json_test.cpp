// workers.json validation and model-stats conversion for `tessera plan`.
#include <catch2/catch.hpp>

#include "actors/model_profile.hpp"
#include "app/plan_inputs.hpp"
#include "model/base/model_stats.hpp"

using tessera::app::parse_workers_json;
using tessera::app::workers_file_error;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_workers_json(text, "w.json");
  } catch (const workers_file_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a valid workers.json gives one profile per worker with every field", "[planner][cli]") {
  const auto ws = parse_workers_json(R"({"workers": [
      {"id": "phone", "memory_bytes": 4e9, "flops_per_s": 2e11, "rtt_ms": 40, "bandwidth_bytes_per_s": 2.5e6,
       "cached_layers": [[0, 4], [6, 8]], "device": "phone"},
      {"id": "gpu", "memory_bytes": 24000000000, "measured_layer_ms": 0.4, "rtt_ms": 2,
       "upload_bytes_per_s": 1e8, "download_bytes_per_s": 5e8, "cached_shards": ["ab12"]}]})",
                                     "w.json");
  REQUIRE(ws.size() == 2);
  CHECK(ws[0].id == "phone");
  CHECK(ws[0].memory_bytes == 4'000'000'000ull);
  CHECK(ws[0].upload_bytes_per_s == 2.5e6);
  CHECK(ws[0].download_bytes_per_s == 2.5e6);
  REQUIRE(ws[0].cached_layers.size() == 2);
  CHECK(ws[0].cached_layers[1] == tessera::planner::layer_range{6, 8});
  CHECK(ws[0].kind == tessera::planner::device_kind::phone);
  CHECK(ws[1].measured_layer_ms == 0.4);
  CHECK(ws[1].download_bytes_per_s == 5e8);
  CHECK(ws[1].cached_shards.at(0) == "ab12");
}

TEST_CASE("bad workers.json files are rejected with the file, worker and field named", "[planner][cli]") {
  CHECK_THAT(error_of("{\"workers\": [}"), Catch::Contains("w.json: malformed JSON"));
  CHECK_THAT(error_of("{\"workers\": []}"), Catch::Contains("pool is empty"));
  CHECK_THAT(error_of("{\"workers\": [], \"extra\": 1}"), Catch::Contains("unknown key \"extra\""));
  const std::string ok_tail = R"("flops_per_s": 1e9, "rtt_ms": 1, "bandwidth_bytes_per_s": 1e6)";
  CHECK_THAT(error_of(R"({"workers": [{"id": "a", "memory_bytes": 0, )" + ok_tail + "}]}"),
             Catch::Contains("worker 'a': \"memory_bytes\" must be > 0"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "b", "memory_bytes": -5, )" + ok_tail + "}]}"),
             Catch::Contains("worker 'b': \"memory_bytes\" must be > 0"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "c", "memory_bytes": 1e9, "flops_per_s": 1e9, "bandwidth_bytes_per_s": -1}]})"),
             Catch::Contains("worker 'c': \"bandwidth_bytes_per_s\" must be > 0"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "d", "memory_bytes": 1e9, "memry": 3, )" + ok_tail + "}]}"),
             Catch::Contains("worker 'd': unknown key \"memry\""));
  CHECK_THAT(error_of(R"({"workers": [{"id": "e", "memory_bytes": 1e9, "flops_per_s": 1e9}]})"),
             Catch::Contains("worker 'e': missing \"bandwidth_bytes_per_s\""));
  CHECK_THAT(error_of(R"({"workers": [{"memory_bytes": 1e9}]})"), Catch::Contains("worker #0: \"id\""));
  CHECK_THAT(error_of(R"({"workers": [{"id": "f", "memory_bytes": "lots", )" + ok_tail + "}]}"),
             Catch::Contains("worker 'f': \"memory_bytes\" must be a number"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "g", "memory_bytes": 1e9, "cached_layers": [[3, 1]], )" + ok_tail + "}]}"),
             Catch::Contains("worker 'g': \"cached_layers\" entry [3,1]"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "h", "memory_bytes": 1e9, )" + ok_tail + R"(}, {"id": "h", "memory_bytes": 1e9, )" + ok_tail + "}]}"),
             Catch::Contains("worker 'h': duplicate id"));
  CHECK_THAT(error_of(R"({"workers": [{"id": "i", "memory_bytes": 1e9, "device": "toaster", )" + ok_tail + "}]}"),
             Catch::Contains("worker 'i': \"device\" must be one of"));
  const auto ws = parse_workers_json(R"({"workers": [{"id": "j", "memory_bytes": 1e9, "cached_layers": [[0, 9]], )" + ok_tail + "}]}", "w.json");
  CHECK_THROWS_WITH(tessera::app::check_workers_against_model(ws, 8, "w.json"),
                    Catch::Contains("worker 'j': \"cached_layers\" entry [0, 9] is past the model's 8 layers"));
}

TEST_CASE("model stats convert to a planner profile with embedding, head and prelude", "[planner][cli]") {
  const auto stats = tessera::model::parse_model_stats_json(R"({"name": "tiny", "num_layers": 2,
      "layers": [{"index": 0, "param_bytes": 10, "flops_per_token": 20, "kv_bytes_per_token": 30, "boundary_bytes_per_token": 40},
                 {"index": 1, "param_bytes": 11, "flops_per_token": 21, "kv_bytes_per_token": 31, "boundary_bytes_per_token": 41}],
      "embed": {"param_bytes": 100, "flops_per_token": 0, "hidden_bytes_per_token": 40},
      "head": {"param_bytes": 200, "flops_per_token": 300}, "prelude": {"param_bytes": 5}})",
                                                   "s.json");
  const auto p = tessera::actors::to_model_profile(stats);
  CHECK(p.name == "tiny");
  REQUIRE(p.num_layers() == 2);
  CHECK(p.layers[1].param_bytes == 11);
  CHECK(p.layers[1].boundary_bytes_per_token == 41);
  CHECK(p.embed_param_bytes == 100);
  CHECK(p.head_param_bytes == 200);
  CHECK(p.head_flops_per_token == 300);
  CHECK(p.prelude_param_bytes == 5);
  CHECK_THROWS_WITH(tessera::model::parse_model_stats_json(R"({"layers": [{"param_bytes": 1}]})", "s.json"),
                    Catch::Contains("s.json: missing \"flops_per_token\" in layers[0]"));
}
