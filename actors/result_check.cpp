#include "actors/result_check.hpp"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace tessera::actors {

namespace {

constexpr int32_t kFloat32 = 1, kFloat16 = 2;

bool is_kv(const std::string& name) {
  return name.rfind("past_key_values.", 0) == 0 || name.rfind("present.", 0) == 0;
}

// Inputs the worker makes itself (runtime and sampling) are no boundary tensors.
bool is_runtime_input(const std::string& name) {
  for (const char* n : {"input_ids", "attention_mask", "position_ids", "temperature", "top_k", "top_p", "random"})
    if (name == n)
      return true;
  return false;
}

std::optional<expected_tensor> expected_from(const nlohmann::json& t, std::string& error) {
  expected_tensor e;
  e.name = t.at("name").get<std::string>();
  for (const auto& d : t.at("shape")) {
    expected_dim dim;
    if (d.is_number_integer()) {
      dim.size = d.get<int64_t>();
    } else if (d.is_string() && d.get<std::string>() == "batch") {
      dim.what = expected_dim::kind::batch;
    } else if (d.is_string() && d.get<std::string>() == "sequence") {
      dim.what = expected_dim::kind::sequence;
    } else {
      error = "tensor '" + e.name + "' has dimension " + d.dump() + " (expected a number, 'batch' or 'sequence')";
      return std::nullopt;
    }
    e.dims.push_back(dim);
  }
  if (t.value("dtype", std::string("float32")) != "float32") {
    error = "boundary tensor '" + e.name + "' has dtype " + t.value("dtype", std::string()) + " (expected float32)";
    return std::nullopt;
  }
  return e;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

float half_to_float(uint16_t h) {
  int exp = (h >> 10) & 0x1f;
  int frac = h & 0x3ff;
  float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exp == 0)
    return sign * std::ldexp(static_cast<float>(frac), -24);
  if (exp == 31)
    return frac ? NAN : sign * INFINITY;
  return sign * std::ldexp(1.0f + frac / 1024.0f, exp - 15);
}

// The i-th value of a FLOAT32 or FLOAT16 blob (sizes already checked).
float value_at(const tensor_blob& t, size_t i) {
  if (t.dtype == kFloat16) {
    uint16_t h;
    std::memcpy(&h, t.data.data() + 2 * i, 2);
    return half_to_float(h);
  }
  float f;
  std::memcpy(&f, t.data.data() + 4 * i, 4);
  return f;
}

size_t element_count(const tensor_blob& t) {
  return t.dtype == kFloat16 ? t.data.size() / 2 : t.data.size() / 4;
}

std::optional<std::string> check_tensor(const expected_tensor& e, uint32_t seq_len, const tensor_blob& t) {
  if (t.dtype != kFloat32 && t.dtype != kFloat16)
    return "tensor '" + t.name + "' has dtype " + std::to_string(t.dtype) + " (expected float32 or float16)";
  std::vector<int64_t> want;
  for (auto& d : e.dims)
    want.push_back(d.what == expected_dim::kind::batch ? 1 : d.what == expected_dim::kind::sequence ? seq_len : d.size);
  if (t.shape != want)
    return "tensor '" + t.name + "' has shape " + shape_text(t.shape) + " (expected " + shape_text(want) + ")";
  uint64_t count = 1;
  for (auto d : want)
    count *= static_cast<uint64_t>(d);
  uint64_t bytes = count * (t.dtype == kFloat16 ? 2 : 4);
  if (t.data.size() != bytes)
    return "tensor '" + t.name + "' carries " + std::to_string(t.data.size()) + " bytes (shape " + shape_text(want) +
           " needs " + std::to_string(bytes) + ")";
  float first = count ? value_at(t, 0) : 0.0f;
  bool constant = true;
  for (size_t i = 0; i < count; ++i) {
    float v = value_at(t, i);
    if (!std::isfinite(v))
      return "tensor '" + t.name + "' holds " + (std::isnan(v) ? std::string("NaN") : std::string("an infinity")) +
             " at element " + std::to_string(i);
    constant = constant && v == first;
  }
  // A transformer's residual stream carries the token embedding: it is never
  // one value repeated (all zeros is the usual lie).
  if (constant && count > 1)
    return "tensor '" + t.name + "' is constant (every element " + std::to_string(first) + ")";
  return std::nullopt;
}

}  // namespace

std::optional<stage_contract> contract_from_manifest(const std::string& manifest_json, const std::string& shard_id,
                                                     std::string& error) {
  try {
    auto m = nlohmann::json::parse(manifest_json);
    const auto& stages = m.at("stages");
    for (size_t i = 0; i < stages.size(); ++i) {
      const auto& s = stages[i];
      if (s.value("id", std::string()) != shard_id)
        continue;
      stage_contract c;
      c.shard_id = shard_id;
      c.vocab_size = m.at("model").at("config").at("vocab_size").get<uint64_t>();
      for (const auto& t : s.at("inputs")) {
        auto name = t.at("name").get<std::string>();
        if (is_kv(name) || is_runtime_input(name))
          continue;
        auto e = expected_from(t, error);
        if (!e)
          return std::nullopt;
        c.inputs.push_back(std::move(*e));
      }
      for (const auto& t : s.at("outputs")) {
        auto name = t.at("name").get<std::string>();
        if (is_kv(name))
          continue;
        if (name == "next_token") {
          c.emits_tokens = true;
          continue;
        }
        if (name == "logits") {
          error = "stage " + shard_id + " has a logits head (the node serves token heads only)";
          return std::nullopt;
        }
        auto e = expected_from(t, error);
        if (!e)
          return std::nullopt;
        c.outputs.push_back(std::move(*e));
      }
      if (!c.emits_tokens && c.outputs.empty()) {
        error = "stage " + shard_id + " has neither boundary outputs nor next_token";
        return std::nullopt;
      }
      return c;
    }
    error = "no stage with id " + shard_id;
  } catch (const std::exception& e) {
    error = std::string("manifest: ") + e.what();
  }
  return std::nullopt;
}

std::optional<std::string> check_result(const stage_contract& c, uint32_t seq_len,
                                        const std::vector<tensor_blob>& tensors,
                                        const std::vector<int64_t>& token_ids) {
  if (c.emits_tokens) {
    if (!tensors.empty())
      return "the last stage sent " + std::to_string(tensors.size()) + " tensors (expected token ids only)";
    if (token_ids.size() != 1)
      return "the last stage sent " + std::to_string(token_ids.size()) + " token ids (expected 1)";
    for (auto id : token_ids)
      if (id < 0 || static_cast<uint64_t>(id) >= c.vocab_size)
        return "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")";
    return std::nullopt;
  }
  if (!token_ids.empty())
    return "an inner stage sent " + std::to_string(token_ids.size()) + " token ids (expected tensors only)";
  if (tensors.size() != c.outputs.size())
    return "sent " + std::to_string(tensors.size()) + " tensors (expected " + std::to_string(c.outputs.size()) + ")";
  for (const auto& e : c.outputs) {
    const tensor_blob* t = nullptr;
    for (const auto& x : tensors)
      if (x.name == e.name)
        t = &x;
    if (!t)
      return "tensor '" + e.name + "' is missing";
    if (auto bad = check_tensor(e, seq_len, *t))
      return bad;
  }
  return std::nullopt;
}

std::optional<double> relative_difference(const std::vector<tensor_blob>& got, const std::vector<tensor_blob>& want) {
  if (got.size() != want.size())
    return std::nullopt;
  double diff = 0, scale = 1;
  for (const auto& w : want) {
    const tensor_blob* g = nullptr;
    for (const auto& x : got)
      if (x.name == w.name)
        g = &x;
    bool floats = [](int32_t d) { return d == kFloat32 || d == kFloat16; }(w.dtype);
    if (!g || g->shape != w.shape || !floats || (g->dtype != kFloat32 && g->dtype != kFloat16) ||
        element_count(*g) != element_count(w))
      return std::nullopt;
    for (size_t i = 0; i < element_count(w); ++i) {
      double a = value_at(*g, i), b = value_at(w, i);
      diff = std::max(diff, std::fabs(a - b));
      scale = std::max(scale, std::fabs(b));
    }
  }
  return diff / scale;
}

double largest_magnitude(const std::vector<tensor_blob>& tensors) {
  double m = 0;
  for (const auto& t : tensors)
    if (t.dtype == kFloat32 || t.dtype == kFloat16)
      for (size_t i = 0; i < element_count(t); ++i)
        m = std::max(m, std::fabs(static_cast<double>(value_at(t, i))));
  return m;
}

}  // namespace tessera::actors
