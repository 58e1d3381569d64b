// workers.json loading for `tessera plan` (see plan_inputs.hpp).
#include "app/plan_inputs.hpp"

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

namespace tessera::app {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& where, const std::string& what) {
  throw workers_file_error(source + ": " + where + (where.empty() ? "" : ": ") + what);
}

const std::set<std::string> kWorkerKeys = {
    "id", "memory_bytes", "flops_per_s", "measured_layer_ms", "rtt_ms", "bandwidth_bytes_per_s",
    "upload_bytes_per_s", "download_bytes_per_s", "cached_layers", "cached_shards", "device"};

double number_field(const json& w, const std::string& key, const std::string& source, const std::string& where) {
  const json& v = w.at(key);
  if (!v.is_number()) fail(source, where, "\"" + key + "\" must be a number, got " + v.dump());
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(source, where, "\"" + key + "\" must be finite");
  return d;
}

double positive_field(const json& w, const std::string& key, const std::string& source, const std::string& where) {
  const double d = number_field(w, key, source, where);
  if (d <= 0) fail(source, where, "\"" + key + "\" must be > 0, got " + w.at(key).dump());
  return d;
}

}  // namespace

std::vector<planner::worker_profile> parse_workers_json(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(source, "", std::string("malformed JSON: ") + e.what());
  }
  if (!doc.is_object()) fail(source, "", "expected an object {\"workers\": [...]}");
  for (const auto& item : doc.items())
    if (item.key() != "workers") fail(source, "", "unknown key \"" + item.key() + "\" (expected only \"workers\")");
  if (!doc.contains("workers")) fail(source, "", "missing \"workers\"");
  const json& list = doc.at("workers");
  if (!list.is_array()) fail(source, "", "\"workers\" must be an array");
  if (list.empty()) fail(source, "", "the pool is empty: \"workers\" has no entries");
  std::vector<planner::worker_profile> out;
  std::set<std::string> ids;
  for (size_t idx = 0; idx < list.size(); ++idx) {
    const json& w = list[idx];
    std::string where = "worker #" + std::to_string(idx);
    if (!w.is_object()) fail(source, where, "must be an object");
    if (!w.contains("id") || !w.at("id").is_string() || w.at("id").get<std::string>().empty())
      fail(source, where, "\"id\" must be a non-empty string");
    planner::worker_profile p;
    p.id = w.at("id").get<std::string>();
    where = "worker '" + p.id + "'";
    if (!ids.insert(p.id).second) fail(source, where, "duplicate id");
    for (const auto& item : w.items())
      if (!kWorkerKeys.count(item.key())) fail(source, where, "unknown key \"" + item.key() + "\"");
    if (!w.contains("memory_bytes")) fail(source, where, "missing \"memory_bytes\"");
    const double mem = positive_field(w, "memory_bytes", source, where);
    if (mem > 1e15) fail(source, where, "\"memory_bytes\" is too large (over 1 PB), got " + w.at("memory_bytes").dump());
    p.memory_bytes = static_cast<uint64_t>(mem);
    if (w.contains("flops_per_s")) p.flops_per_s = positive_field(w, "flops_per_s", source, where);
    if (w.contains("measured_layer_ms")) p.measured_layer_ms = positive_field(w, "measured_layer_ms", source, where);
    if (!w.contains("flops_per_s") && !w.contains("measured_layer_ms"))
      fail(source, where, "missing \"flops_per_s\" (or \"measured_layer_ms\")");
    if (w.contains("rtt_ms")) {
      p.rtt_ms = number_field(w, "rtt_ms", source, where);
      if (p.rtt_ms < 0) fail(source, where, "\"rtt_ms\" must be >= 0, got " + w.at("rtt_ms").dump());
    }
    if (w.contains("bandwidth_bytes_per_s"))
      p.upload_bytes_per_s = p.download_bytes_per_s = positive_field(w, "bandwidth_bytes_per_s", source, where);
    if (w.contains("upload_bytes_per_s")) p.upload_bytes_per_s = positive_field(w, "upload_bytes_per_s", source, where);
    if (w.contains("download_bytes_per_s"))
      p.download_bytes_per_s = positive_field(w, "download_bytes_per_s", source, where);
    if (p.upload_bytes_per_s <= 0 || p.download_bytes_per_s <= 0)
      fail(source, where, "missing \"bandwidth_bytes_per_s\" (or both \"upload_bytes_per_s\" and \"download_bytes_per_s\")");
    if (w.contains("cached_layers")) {
      const json& c = w.at("cached_layers");
      if (!c.is_array()) fail(source, where, "\"cached_layers\" must be an array of [begin, end] pairs");
      for (const json& r : c) {
        if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer())
          fail(source, where, "\"cached_layers\" entry " + r.dump() + " must be [begin, end] integers");
        const long long a = r[0].get<long long>(), b = r[1].get<long long>();
        if (a < 0 || b <= a || b > 1'000'000)
          fail(source, where, "\"cached_layers\" entry " + r.dump() + " must satisfy 0 <= begin < end");
        p.cached_layers.push_back({static_cast<int>(a), static_cast<int>(b)});
      }
    }
    if (w.contains("cached_shards")) {
      const json& c = w.at("cached_shards");
      if (!c.is_array()) fail(source, where, "\"cached_shards\" must be an array of strings");
      for (const json& s : c) {
        if (!s.is_string()) fail(source, where, "\"cached_shards\" entry " + s.dump() + " must be a string");
        p.cached_shards.push_back(s.get<std::string>());
      }
    }
    if (w.contains("device")) {
      if (!w.at("device").is_string() || !planner::parse_device_kind(w.at("device").get<std::string>(), p.kind))
        fail(source, where,
             "\"device\" must be one of unknown, phone, laptop, desktop_gpu, server_gpu, browser, server_cpu; got " +
                 w.at("device").dump());
    }
    out.push_back(std::move(p));
  }
  return out;
}

void check_workers_against_model(const std::vector<planner::worker_profile>& workers, int num_layers,
                                 const std::string& source) {
  for (const auto& w : workers)
    for (const auto& r : w.cached_layers)
      if (r.end > num_layers)
        fail(source, "worker '" + w.id + "'",
             "\"cached_layers\" entry [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
                 "] is past the model's " + std::to_string(num_layers) + " layers");
}

}  // namespace tessera::app
