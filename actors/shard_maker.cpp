#include "actors/shard_maker.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "model/graph/graph_cutter.hpp"
#include "model/base/sha256.hpp"
#include "planner/cut_cache.hpp"

namespace tessera::actors {

namespace fs = std::filesystem;

namespace {

fs::path model_cuts_dir(const std::string& model_dir, const std::string& shard_dir) {
  auto model_name = fs::absolute(fs::path(model_dir)).lexically_normal().filename().string();
  return fs::path(shard_dir) / (model_name.empty() ? "model" : model_name);
}

uint64_t tree_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      total += e.file_size();
  return total;
}

std::string ranges_key(const std::vector<std::pair<int, int>>& ranges) {
  std::string key;
  for (auto& [b, e] : ranges)
    key += (key.empty() ? "" : "_") + std::to_string(b) + "-" + std::to_string(e);
  return key + "_sample";
}

// A cached file's sha256 lives next to it in NAME.sha256 (written once).
std::string cached_sha256(const fs::path& file) {
  fs::path side = file.string() + ".sha256";
  if (fs::exists(side) && fs::last_write_time(side) >= fs::last_write_time(file)) {
    std::ifstream in(side);
    std::string hex;
    in >> hex;
    if (hex.size() == 64)
      return hex;
  }
  auto hex = model::sha256_file(file.string());
  std::ofstream(side) << hex << "\n";
  return hex;
}

}  // namespace

std::vector<stage_shard> make_stage_shards(const std::string& model_dir, const std::string& shard_dir,
                                           const std::vector<std::pair<int, int>>& ranges,
                                           shard_registry& registry) {
  fs::path model_path(model_dir);
  const auto key = ranges_key(ranges);
  fs::path out = model_cuts_dir(model_dir, shard_dir) / key;
  fs::path manifest = out / "manifest.json";
  // A cut is reused only when it is newer than the model it came from.
  bool fresh = fs::exists(manifest) &&
               fs::last_write_time(manifest) >= fs::last_write_time(model_path / "model.onnx");
  if (!fresh) {
    model::split_options options;
    for (auto& [b, e] : ranges)
      options.stages.push_back({b, e});
    options.head = model::token_head::sample;
    options.run_checker = false;
    fs::create_directories(out.parent_path());
    auto t0 = std::chrono::steady_clock::now();
    model::split_model(model_dir, out.string(), options);
    spdlog::info("shards cut dir={} ms={:.0f}", out.string(),
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  } else {
    spdlog::info("shards reused dir={}", out.string());
  }
  fs::last_write_time(out, fs::file_time_type::clock::now());  // its last use, for remove_old_cuts
  std::ifstream in(manifest);
  if (!in)
    throw std::runtime_error(manifest.string() + ": cannot read the cut's manifest");
  auto j = nlohmann::json::parse(in);
  const auto& stages = j.at("stages");
  if (stages.size() != ranges.size())
    throw std::runtime_error(manifest.string() + ": " + std::to_string(stages.size()) +
                             " stages, expected " + std::to_string(ranges.size()));
  std::vector<stage_shard> result;
  for (size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    stage_shard shard;
    shard.id = s.at("id").get<std::string>();
    shard.cut = key;
    shard.layer_begin = ranges[i].first;
    shard.layer_end = ranges[i].second;
    shard.head = i + 1 == stages.size() ? "sample" : "";
    for (const char* key : {"file", "data_file"}) {
      if (!s.contains(key) || !s[key].is_string() || s[key].get<std::string>().empty())
        continue;
      auto name = s[key].get<std::string>();
      fs::path path = out / name;
      if (!fs::exists(path))
        continue;  // a stage without external data
      shard_file_info f;
      f.name = name;
      f.url = "/shards/" + shard.id + "/" + name;
      f.sha256 = cached_sha256(path);
      f.bytes = fs::file_size(path);
      registry.add(shard.id, name, net::shard_file{fs::absolute(path).string(), f.sha256});
      shard.files.push_back(std::move(f));
    }
    if (shard.files.empty())
      throw std::runtime_error(manifest.string() + ": stage " + std::to_string(i) + " has no files");
    result.push_back(std::move(shard));
  }
  return result;
}

cut_cleanup remove_old_cuts(const std::string& model_dir, const std::string& shard_dir,
                            const std::vector<std::string>& in_use, uint64_t budget_bytes,
                            shard_registry& registry) {
  cut_cleanup out;
  fs::path root = model_cuts_dir(model_dir, shard_dir);
  if (!fs::is_directory(root))
    return out;
  std::vector<planner::cached_cut> cuts;
  for (auto& e : fs::directory_iterator(root))
    if (e.is_directory())
      cuts.push_back({e.path().filename().string(), tree_bytes(e.path()),
                      static_cast<int64_t>(fs::last_write_time(e.path()).time_since_epoch().count())});
  auto doomed = planner::cuts_to_delete(cuts, in_use, budget_bytes);
  for (auto& c : cuts) {
    if (!std::binary_search(doomed.begin(), doomed.end(), c.key)) {
      ++out.kept;
      out.kept_bytes += c.bytes;
      continue;
    }
    fs::path dir = root / c.key;
    registry.remove_under(fs::absolute(dir).string());
    fs::remove_all(dir);
    ++out.deleted;
    out.freed_bytes += c.bytes;
  }
  if (out.deleted > 0)
    spdlog::info("shard cuts deleted={} freed_bytes={} kept={} kept_bytes={} budget_bytes={}", out.deleted,
                 out.freed_bytes, out.kept, out.kept_bytes, budget_bytes);
  return out;
}

}  // namespace tessera::actors
