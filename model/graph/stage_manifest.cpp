// manifest.json reading and writing.
#include "model/graph/stage_manifest.hpp"

#include <filesystem>
#include <fstream>

#include "model/base/model_error.hpp"

namespace tessera::model {

namespace {

nlohmann::json spec_json(const tensor_spec& t) {
  auto shape = nlohmann::json::array();
  for (const auto& d : t.shape) {
    if (std::holds_alternative<int64_t>(d)) shape.push_back(std::get<int64_t>(d));
    else shape.push_back(std::get<std::string>(d));
  }
  return {{"name", t.name}, {"dtype", t.dtype}, {"shape", shape}};
}

tensor_spec parse_spec(const nlohmann::json& j, const std::string& where) {
  tensor_spec t;
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) throw model_error(where + ": tensor without a name");
  t.name = j["name"].get<std::string>();
  t.dtype = j.value("dtype", "float32");
  if (j.contains("shape")) {
    if (!j["shape"].is_array()) throw model_error(where + ": shape of " + t.name + " is not an array");
    for (const auto& d : j["shape"]) {
      if (d.is_number_integer()) t.shape.emplace_back(d.get<int64_t>());
      else if (d.is_string()) t.shape.emplace_back(d.get<std::string>());
      else throw model_error(where + ": shape of " + t.name + " has a dim that is neither a number nor a name");
    }
  }
  return t;
}

}  // namespace

nlohmann::json to_json(const stage_manifest& m) {
  nlohmann::json j;
  j["model"] = {{"name", m.model_name}, {"hash", m.model_hash}, {"num_layers", m.num_layers}, {"config", m.config}};
  j["head"] = to_string(m.head);
  j["stages"] = nlohmann::json::array();
  for (const auto& s : m.stages) {
    nlohmann::json st = {{"file", s.file}, {"data_file", s.data_file}, {"layers", {s.layers.begin, s.layers.end}},
                         {"id", s.id}, {"bytes", s.bytes}};
    st["inputs"] = nlohmann::json::array();
    for (const auto& t : s.inputs) st["inputs"].push_back(spec_json(t));
    st["outputs"] = nlohmann::json::array();
    for (const auto& t : s.outputs) st["outputs"].push_back(spec_json(t));
    j["stages"].push_back(st);
  }
  return j;
}

stage_manifest parse_stage_manifest(const nlohmann::json& j, const std::string& where) {
  stage_manifest m;
  try {
    const auto& model = j.at("model");
    m.model_name = model.value("name", "");
    m.model_hash = model.value("hash", "");
    m.num_layers = model.at("num_layers").get<int>();
    if (model.contains("config")) m.config = model["config"];
    m.head = parse_token_head(j.value("head", "greedy"));
    for (const auto& st : j.at("stages")) {
      stage_info s;
      s.file = st.at("file").get<std::string>();
      s.data_file = st.value("data_file", "");
      s.layers.begin = st.at("layers").at(0).get<int>();
      s.layers.end = st.at("layers").at(1).get<int>();
      s.id = st.value("id", "");
      s.bytes = st.value("bytes", uint64_t(0));
      for (const auto& t : st.at("inputs")) s.inputs.push_back(parse_spec(t, where));
      for (const auto& t : st.at("outputs")) s.outputs.push_back(parse_spec(t, where));
      m.stages.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    throw model_error(where + ": bad manifest: " + e.what());
  }
  std::vector<stage_range> ranges;
  for (const auto& s : m.stages) ranges.push_back(s.layers);
  try {
    validate_stage_list(ranges, m.num_layers);
  } catch (const model_error& e) {
    throw model_error(where + ": " + e.what());
  }
  return m;
}

stage_manifest load_stage_manifest(const std::string& dir_or_file) {
  namespace fs = std::filesystem;
  std::string path = fs::is_directory(dir_or_file) ? (fs::path(dir_or_file) / "manifest.json").string() : dir_or_file;
  std::ifstream in(path);
  if (!in) throw model_error("cannot open stage manifest " + path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path + " is not valid JSON: " + e.what());
  }
  return parse_stage_manifest(j, path);
}

void write_stage_manifest(const stage_manifest& m, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  out << to_json(m).dump(2) << "\n";
  out.close();
  if (!out) throw model_error("cannot write " + path);
}

}  // namespace tessera::model
