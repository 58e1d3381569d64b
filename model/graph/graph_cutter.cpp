// Graph cutter: stage lists, the temp-dir-then-rename protocol, content ids
// and the manifest. The per-stage work is in graph_stage.cpp.
#include "model/graph/graph_cutter.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <onnx/checker.h>
#include <spdlog/spdlog.h>

#include "model/base/model_error.hpp"
#include "model/base/sha256.hpp"
#include "model/graph/graph_analysis.hpp"
#include "model/graph/graph_stage.hpp"
#include "model/graph/onnx_io.hpp"
#include "model/graph/stage_manifest.hpp"

namespace fs = std::filesystem;

namespace tessera::model {

namespace {

constexpr const char* cutter_format = "tessera-cutter-1";

std::string range_text(stage_range r) { return std::to_string(r.begin) + ":" + std::to_string(r.end); }

int parse_layer(const std::string& text, const std::string& entry) {
  size_t used = 0;
  int v = -1;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < 0)
    throw model_error("bad stage '" + entry + "': '" + text + "' is not a layer index (expected A:B, e.g. 0:2)");
  return v;
}

// Removes a temporary directory unless released.
struct dir_guard {
  fs::path dir;
  bool armed = true;
  ~dir_guard() {
    if (!armed) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  try {
    nlohmann::json j;
    in >> j;
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path.string() + " is not valid JSON: " + e.what());
  }
}

// The model's content hash: model.onnx's bytes and every external
// initializer's bytes (hashed while the stages copy them, so the data is read
// once), in the model's initializer order. Independent of the stage plan.
std::string model_hash(const decoder_graph& g, std::map<std::string, std::string>& weight_hashes) {
  sha256 h;
  h.update(std::string(cutter_format) + "\n");
  h.update("model.onnx " + sha256_file(g.model_file) + "\n");
  for (const auto& init : g.model.graph().initializer()) {
    if (!has_external_data(init)) continue;
    auto it = weight_hashes.find(init.name());
    if (it == weight_hashes.end()) it = weight_hashes.emplace(init.name(), hash_external_initializer(g, init)).first;
    h.update(init.name() + " " + it->second + "\n");
  }
  return h.hex_digest();
}

}  // namespace

std::string to_string(token_head head) {
  switch (head) {
    case token_head::logits: return "logits";
    case token_head::greedy: return "greedy";
    case token_head::sample: return "sample";
  }
  return "?";
}

token_head parse_token_head(const std::string& text) {
  if (text == "logits") return token_head::logits;
  if (text == "greedy") return token_head::greedy;
  if (text == "sample") return token_head::sample;
  throw model_error("unknown head '" + text + "' (expected logits, greedy or sample)");
}

std::vector<stage_range> parse_stage_list(const std::string& text, int num_layers) {
  std::vector<stage_range> stages;
  std::stringstream in(text);
  std::string entry;
  while (std::getline(in, entry, ',')) {
    auto colon = entry.find(':');
    if (colon == std::string::npos) throw model_error("bad stage '" + entry + "' in '" + text + "' (expected A:B, e.g. 0:2)");
    stages.push_back({parse_layer(entry.substr(0, colon), entry), parse_layer(entry.substr(colon + 1), entry)});
  }
  if (stages.empty()) throw model_error("empty stage list (expected e.g. 0:2,2:5,5:8)");
  validate_stage_list(stages, num_layers);
  return stages;
}

void validate_stage_list(const std::vector<stage_range>& stages, int num_layers) {
  if (stages.empty()) throw model_error("empty stage list");
  int expect = 0;
  for (const auto& s : stages) {
    if (s.begin < 0 || s.end <= s.begin) throw model_error("stage " + range_text(s) + " is empty or reversed");
    if (s.end > num_layers)
      throw model_error("stage " + range_text(s) + " exceeds the model's " + std::to_string(num_layers) + " layers");
    if (s.begin < expect) throw model_error("stage " + range_text(s) + " overlaps the previous stage, which ends at layer " + std::to_string(expect));
    if (s.begin > expect) throw model_error("gap in the stage list: layers " + std::to_string(expect) + ":" + std::to_string(s.begin) + " are in no stage");
    expect = s.end;
  }
  if (expect != num_layers)
    throw model_error("stage list ends at layer " + std::to_string(expect) + " but the model has " + std::to_string(num_layers) + " layers");
}

split_result split_model(const std::string& path, const std::string& out_dir, const split_options& options) {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t) { return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count(); };
  auto t0 = clock::now();
  auto g = analyse_decoder(path);
  spdlog::info("split analysed model={} layers={} ms={}", g.model_file, g.num_layers, ms_since(t0));
  validate_stage_list(options.stages, g.num_layers);

  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  if (out.empty()) throw model_error("empty output directory");
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec)) throw model_error("output path " + out.string() + " exists and is not a directory");
  fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (!fs::is_directory(parent, ec)) throw model_error("cannot create the parent directory of " + out.string());
  const std::string pid = std::to_string(::getpid());
  dir_guard tmp{parent / ("." + out.filename().string() + ".tmp-" + pid)};
  fs::remove_all(tmp.dir, ec);
  if (!fs::create_directory(tmp.dir, ec)) throw model_error("cannot create " + tmp.dir.string() + ": " + ec.message());

  split_result result;
  result.out_dir = out.string();
  result.num_layers = g.num_layers;
  result.warnings = g.warnings;

  bool check = options.run_checker;
  if (check) {
    try {
      onnx::checker::check_model(g.model_file);
    } catch (const std::exception& e) {
      // e.g. onnxruntime-genai exports use ORT contrib ops in the default domain.
      check = false;
      result.warnings.push_back("the source model fails the onnx checker, so stages are not checked either: " +
                                std::string(e.what()));
    }
  }

  stage_manifest manifest;
  manifest.num_layers = g.num_layers;
  manifest.head = options.head;
  auto model_dir = fs::path(g.model_dir);
  manifest.config = read_json_file(model_dir / "config.json");
  manifest.model_name = fs::path(g.model_file).filename() == "model.onnx"
                            ? fs::absolute(model_dir).lexically_normal().filename().string()
                            : fs::path(g.model_file).stem().string();
  std::map<std::string, std::string> weight_hashes;
  for (const auto& range : options.stages) {
    t0 = clock::now();
    auto info = write_stage(g, range, options.head, tmp.dir.string(), check, weight_hashes);
    spdlog::info("split wrote stage={} bytes={} ms={}", range_text(range), info.bytes, ms_since(t0));
    for (const auto& w : info.warnings) result.warnings.push_back(w);
    result.stages.push_back(info);
  }
  result.model_hash = model_hash(g, weight_hashes);
  manifest.model_hash = result.model_hash;
  for (auto& info : result.stages) {
    std::string head_part = info.layers.end == g.num_layers ? to_string(options.head) : "-";
    info.id = sha256_hex(std::string(cutter_format) + "\n" + result.model_hash + "\n" + range_text(info.layers) + "\n" + head_part);
  }
  manifest.stages = result.stages;
  write_stage_manifest(manifest, (tmp.dir / "manifest.json").string());
  for (const char* extra : {"config.json", "tokenizer.json"})
    if (fs::is_regular_file(model_dir / extra, ec)) fs::copy_file(model_dir / extra, tmp.dir / extra, ec);

  // Swap into place: the old directory (if any) is removed only after the new one is in.
  fs::path old = parent / ("." + out.filename().string() + ".old-" + pid);
  bool had_old = fs::exists(out, ec);
  if (had_old) {
    fs::rename(out, old, ec);
    if (ec) throw model_error("cannot replace " + out.string() + ": " + ec.message());
  }
  fs::rename(tmp.dir, out, ec);
  if (ec) {
    std::error_code ignore;
    if (had_old) fs::rename(old, out, ignore);
    throw model_error("cannot move the stages into " + out.string() + ": " + ec.message());
  }
  tmp.armed = false;
  if (had_old) fs::remove_all(old, ec);
  return result;
}

}  // namespace tessera::model
