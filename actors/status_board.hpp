// Thread-safe snapshots shared between the actors and the gateway's Asio
// threads (which must never block on CAF): the planner's view the planner
// publishes for /api/status, and the shard files the gateway may serve. No CAF here.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/plan_view.hpp"
#include "net/gateway.hpp"

namespace tessera::actors {

class status_board {
public:
  // The planner's part of /api/status (render_status turns it into JSON).
  void set_planner(planner_view view) {
    std::lock_guard<std::mutex> lock(mu_);
    planner_ = std::move(view);
  }
  planner_view planner() const {
    std::lock_guard<std::mutex> lock(mu_);
    return planner_;
  }
  // The prefix cache actor's part of /api/status.
  void set_cache(prefix_cache_view view) {
    std::lock_guard<std::mutex> lock(mu_);
    cache_ = std::move(view);
  }
  std::optional<prefix_cache_view> cache() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cache_;
  }
  std::atomic<uint64_t> requests_active{0};
  std::atomic<uint64_t> requests_done{0};
  std::atomic<uint64_t> requests_failed{0};
  std::atomic<uint64_t> tokens_generated{0};

private:
  mutable std::mutex mu_;
  planner_view planner_;
  std::optional<prefix_cache_view> cache_;
};

// Shard files by content id, as the gateway serves them under /shards/<id>/<name>.
// Equal content ids in two cuts are the same bytes: the entry keeps every copy
// and serves the newest registered, so deleting one cut (remove_under) leaves
// the others served.
class shard_registry {
public:
  void add(const std::string& id, const std::string& name, net::shard_file file) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& copies = files_[id + "/" + name];
    for (auto it = copies.begin(); it != copies.end(); ++it)
      if (it->path == file.path) {
        copies.erase(it);
        break;
      }
    copies.push_back(std::move(file));
  }
  std::optional<net::shard_file> find(const std::string& id, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(id + "/" + name);
    if (it == files_.end())
      return std::nullopt;
    return it->second.back();
  }
  // Forgets every file whose path starts with `dir` + "/" (a deleted cut).
  void remove_under(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string prefix = dir + "/";
    for (auto it = files_.begin(); it != files_.end();) {
      auto& copies = it->second;
      copies.erase(std::remove_if(copies.begin(), copies.end(),
                                  [&](const net::shard_file& f) { return f.path.compare(0, prefix.size(), prefix) == 0; }),
                   copies.end());
      it = copies.empty() ? files_.erase(it) : std::next(it);
    }
  }

private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<net::shard_file>> files_;  // newest copy last
};

}  // namespace tessera::actors
