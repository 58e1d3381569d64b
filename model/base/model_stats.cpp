// model_stats JSON: writer and reader (format in model_stats.hpp).
#include "model/base/model_stats.hpp"

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"

namespace tessera::model {

std::string model_stats_json(const model_stats& s, int indent) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["num_layers"] = s.num_layers;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : s.layers)
    j["layers"].push_back({{"index", l.index},
                           {"param_bytes", l.param_bytes},
                           {"flops_per_token", l.flops_per_token},
                           {"kv_bytes_per_token", l.kv_bytes_per_token},
                           {"boundary_bytes_per_token", l.boundary_bytes_per_token}});
  j["embed"] = {{"param_bytes", s.embed_param_bytes}, {"flops_per_token", s.embed_flops_per_token},
                {"hidden_bytes_per_token", s.hidden_bytes_per_token}};
  j["head"] = {{"param_bytes", s.head_param_bytes}, {"flops_per_token", s.head_flops_per_token}};
  j["prelude"] = {{"param_bytes", s.prelude_param_bytes}};
  j["total_param_bytes"] = s.total_param_bytes;
  j["boundaries"] = nlohmann::ordered_json::array();
  for (const auto& b : s.boundaries) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& t : b)
      arr.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"bytes_per_token", t.bytes_per_token}});
    j["boundaries"].push_back(arr);
  }
  j["warnings"] = s.warnings;
  return j.dump(indent);
}

namespace {

using nlohmann::json;

// Field access that names the source file and the place of a bad field.
class stats_reader {
public:
  explicit stats_reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& what) const { throw model_error(source_ + ": " + what); }

  static std::string in(const std::string& where) { return where.empty() ? "" : " in " + where; }

  const json& need(const json& obj, const std::string& key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) fail("missing \"" + key + "\"" + in(where));
    return obj.at(key);
  }

  uint64_t u64(const json& obj, const std::string& key, const std::string& where) const {
    const json& v = need(obj, key, where);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<long long>() >= 0))
      fail("\"" + key + "\"" + in(where) + " must be a non-negative integer, got " + v.dump());
    return v.get<uint64_t>();
  }

  // Sets `out` when `key` is present (and valid), leaves it otherwise.
  void optional_u64(const json& obj, const std::string& key, const std::string& where, uint64_t& out) const {
    if (obj.contains(key)) out = u64(obj, key, where);
  }

  std::string text(const json& obj, const std::string& key, const std::string& where) const {
    const json& v = need(obj, key, where);
    if (!v.is_string()) fail("\"" + key + "\"" + in(where) + " must be a string, got " + v.dump());
    return v.get<std::string>();
  }

  boundary_tensor boundary(const json& t, const std::string& where) const {
    boundary_tensor b;
    b.name = text(t, "name", where);
    b.dtype = text(t, "dtype", where);
    const json& shape = need(t, "shape", where);
    if (!shape.is_array()) fail("\"shape\"" + in(where) + " must be an array");
    for (const auto& d : shape) {
      if (!d.is_string()) fail("\"shape\"" + in(where) + " has a dim that is not a string: " + d.dump());
      b.shape.push_back(d.get<std::string>());
    }
    b.bytes_per_token = u64(t, "bytes_per_token", where);
    return b;
  }

private:
  std::string source_;
};

}  // namespace

model_stats parse_model_stats_json(const std::string& text, const std::string& source) {
  const stats_reader r(source);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    r.fail(std::string("malformed JSON: ") + e.what());
  }
  model_stats s;
  if (j.contains("name") && j.at("name").is_string()) s.name = j.at("name").get<std::string>();
  const json& layers = r.need(j, "layers", "");
  if (!layers.is_array() || layers.empty()) r.fail("\"layers\" must be a non-empty array");
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string where = "layers[" + std::to_string(i) + "]";
    layer_stats l;
    l.index = static_cast<int>(i);
    l.param_bytes = r.u64(layers[i], "param_bytes", where);
    l.flops_per_token = r.u64(layers[i], "flops_per_token", where);
    l.kv_bytes_per_token = r.u64(layers[i], "kv_bytes_per_token", where);
    l.boundary_bytes_per_token = r.u64(layers[i], "boundary_bytes_per_token", where);
    s.layers.push_back(l);
  }
  s.num_layers = static_cast<int>(s.layers.size());
  const json& embed = r.need(j, "embed", "");
  s.embed_param_bytes = r.u64(embed, "param_bytes", "embed");
  r.optional_u64(embed, "flops_per_token", "embed", s.embed_flops_per_token);
  r.optional_u64(embed, "hidden_bytes_per_token", "embed", s.hidden_bytes_per_token);
  const json& head = r.need(j, "head", "");
  s.head_param_bytes = r.u64(head, "param_bytes", "head");
  r.optional_u64(head, "flops_per_token", "head", s.head_flops_per_token);
  if (j.contains("prelude")) s.prelude_param_bytes = r.u64(j.at("prelude"), "param_bytes", "prelude");
  r.optional_u64(j, "total_param_bytes", "", s.total_param_bytes);
  if (j.contains("boundaries")) {
    const json& all = j.at("boundaries");
    if (!all.is_array()) r.fail("\"boundaries\" must be an array (one entry per boundary)");
    for (size_t b = 0; b < all.size(); ++b) {
      const std::string where = "boundaries[" + std::to_string(b) + "]";
      if (!all[b].is_array()) r.fail(where + " must be an array of tensors");
      std::vector<boundary_tensor> tensors;
      for (size_t k = 0; k < all[b].size(); ++k)
        tensors.push_back(r.boundary(all[b][k], where + "[" + std::to_string(k) + "]"));
      s.boundaries.push_back(std::move(tensors));
    }
  }
  if (j.contains("warnings")) {
    const json& w = j.at("warnings");
    if (!w.is_array()) r.fail("\"warnings\" must be an array of strings");
    for (const auto& item : w) {
      if (!item.is_string()) r.fail("\"warnings\" entry " + item.dump() + " must be a string");
      s.warnings.push_back(item.get<std::string>());
    }
  }
  return s;
}

}  // namespace tessera::model
