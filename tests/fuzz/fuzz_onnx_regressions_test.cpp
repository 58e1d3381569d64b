// The bugs fuzz_onnx_inspector found in the ONNX graph analysis, one test case
// each (its own executable: the only regression test that needs ONNX).
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "fuzz_regression_input.hpp"
#include "model/base/model_error.hpp"
#include "model/graph/graph_inspector.hpp"
#include "model/graph/onnx_io.hpp"
#include "tests/model/graph_test_models.hpp"

namespace {

// A scratch model directory: model.onnx plus the 64 KiB of zeros the fuzz target puts beside it.
struct scratch_model {
  std::filesystem::path dir;
  explicit scratch_model(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() / ("tessera-fuzz-regression-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "model.onnx.data", std::ios::binary) << std::string(64 << 10, '\0');
  }
  ~scratch_model() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("an ONNX node reading a tensor nothing defines is refused naming it, before ONNX shape inference") {
  // ONNX 1.12's shape inference dereferenced a null pointer on this Shape node.
  scratch_model m("undefined-input");
  std::filesystem::copy_file(tessera::fuzz::regression_input("fuzz_onnx_inspector", "shape_of_undefined_input.onnx"), m.dir / "model.onnx");
  REQUIRE_THROWS_WITH(tessera::model::inspect_model(m.dir.string()),
                      Catch::Matchers::Contains("reads 'input_:ds', which no graph input, initializer or node produces"));
}

TEST_CASE("an ONNX input past_key_values.N.key with an 11-digit N is refused as a model_error") {
  // std::stoi threw std::out_of_range on the layer number.
  scratch_model m("kv-digits");
  tessera::test::write_optimum_style(m.dir);
  auto model = tessera::model::load_model_proto((m.dir / "model.onnx").string());
  for (auto& in : *model.mutable_graph()->mutable_input())
    if (in.name() == "past_key_values.0.key") in.set_name("past_key_values.99999999999.key");
  tessera::model::save_model_proto(model, (m.dir / "model.onnx").string());
  REQUIRE_THROWS_AS(tessera::model::inspect_model(m.dir.string()), tessera::model::model_error);
}
