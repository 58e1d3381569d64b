// build_llama_model: writes model.onnx + model.onnx.data + config.json (+ tokenizer.json)
// into a temporary sibling directory, checks the model, then renames it into place.
#include "model/build/llama_builder.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <onnx/checker.h>
#include <spdlog/spdlog.h>

#include "model/base/model_error.hpp"
#include "model/build/llama_graph.hpp"

namespace fs = std::filesystem;

namespace tessera::model {
namespace {

constexpr const char* k_model_file = "model.onnx";
constexpr const char* k_data_file = "model.onnx.data";

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw model_error("cannot write " + path.string());
}

// Removes the temporary directory unless the build finished.
struct temp_dir_guard {
  fs::path path;
  bool keep = false;
  ~temp_dir_guard() {
    if (!keep) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

bool replaceable(const fs::path& dir) {
  if (!fs::exists(dir)) return true;
  if (!fs::is_directory(dir)) return false;
  if (fs::is_empty(dir)) return true;
  return fs::exists(dir / k_model_file) || fs::exists(dir / "config.json");
}

}  // namespace

std::string to_string(weight_dtype d) { return d == weight_dtype::fp16 ? "fp16" : "fp32"; }

weight_dtype parse_weight_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return weight_dtype::fp32;
  if (s == "fp16" || s == "float16") return weight_dtype::fp16;
  throw model_error("unknown dtype '" + s + "' (fp32 or fp16)");
}

std::string byte_tokenizer_json() {
  return R"({"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258})"
         "\n";
}

build_result build_llama_model(const llama_config& config, weight_source& weights, const std::string& out_dir,
                               const build_options& options) {
  validate(config);
  if (out_dir.empty()) throw model_error("output directory is empty");
  const fs::path out = fs::absolute(fs::path(out_dir)).lexically_normal();
  const fs::path final_dir = out.has_filename() ? out : out.parent_path();
  if (!replaceable(final_dir))
    throw model_error("output " + final_dir.string() + " exists and is not a model directory; refusing to replace it");
  std::error_code ec;
  fs::create_directories(final_dir.parent_path(), ec);
  if (ec) throw model_error("cannot create " + final_dir.parent_path().string() + ": " + ec.message());

  temp_dir_guard tmp{final_dir.parent_path() / ("." + final_dir.filename().string() + ".tmp-" + std::to_string(::getpid()))};
  fs::remove_all(tmp.path, ec);
  if (!fs::create_directory(tmp.path, ec) || ec) throw model_error("cannot create " + tmp.path.string());

  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("tessera");
  model.set_producer_version("0.1");
  model.set_domain("ai.tessera");
  model.set_model_version(1);
  model.set_doc_string("Llama-family decoder " + config.name + " (" + weights.describe() + ", " +
                       to_string(options.dtype) + ")");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  auto* graph = model.mutable_graph();
  graph->set_name(config.name);

  build_result result;
  {
    external_data_file data((tmp.path / k_data_file).string(), k_data_file);
    graph_writer g(*graph);
    llama_graph_builder{g, data, weights, config, options.dtype}.build();
    data.close();
    result.data_bytes = data.size();
  }
  {
    std::ofstream mo(tmp.path / k_model_file, std::ios::binary | std::ios::trunc);
    if (!mo || !model.SerializeToOstream(&mo)) throw model_error("cannot write " + (tmp.path / k_model_file).string());
    mo.flush();
    if (!mo) throw model_error("cannot write " + (tmp.path / k_model_file).string());
  }
  result.onnx_bytes = fs::file_size(tmp.path / k_model_file);
  result.num_nodes = graph->node_size();
  result.parameter_count = config.parameter_count();

  if (options.run_checker) {
    try {
      onnx::checker::check_model((tmp.path / k_model_file).string());
    } catch (const std::exception& e) {
      throw model_error(std::string("generated model fails the ONNX checker: ") + e.what());
    }
  }

  write_text(tmp.path / "config.json",
             to_hf_config_json(config, options.dtype == weight_dtype::fp16 ? "float16" : "float32").dump(2) + "\n");
  if (options.write_byte_tokenizer) write_text(tmp.path / "tokenizer.json", byte_tokenizer_json());
  if (options.add_files) options.add_files(tmp.path.string());

  // Swap into place: the old directory (if any) moves aside first, so `out` is
  // always either the old model or the complete new one.
  fs::path old;
  if (fs::exists(final_dir)) {
    old = final_dir.parent_path() / ("." + final_dir.filename().string() + ".old-" + std::to_string(::getpid()));
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (ec) throw model_error("cannot move aside " + final_dir.string() + ": " + ec.message());
  }
  fs::rename(tmp.path, final_dir, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, final_dir, ec);
    throw model_error("cannot rename " + tmp.path.string() + " to " + final_dir.string());
  }
  tmp.keep = true;
  if (!old.empty()) fs::remove_all(old, ec);

  result.out_dir = final_dir.string();
  spdlog::info("model build name={} layers={} params={} dtype={} onnx_bytes={} data_bytes={} out={}", config.name,
               config.num_hidden_layers, result.parameter_count, to_string(options.dtype), result.onnx_bytes,
               result.data_bytes, result.out_dir);
  return result;
}

}  // namespace tessera::model
