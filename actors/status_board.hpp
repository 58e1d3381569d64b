// Thread-safe snapshots shared between the actors and the gateway's Asio
// threads (which must never block on CAF): the /api/status JSON the planner
// publishes, and the shard files the gateway may serve. No CAF here.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "net/gateway.hpp"

namespace tessera::actors {

class status_board {
public:
  // The planner's part of /api/status (a JSON object as text).
  void set_planner_json(std::string json) {
    std::lock_guard<std::mutex> lock(mu_);
    planner_json_ = std::move(json);
  }
  std::string planner_json() const {
    std::lock_guard<std::mutex> lock(mu_);
    return planner_json_;
  }
  std::atomic<uint64_t> requests_active{0};
  std::atomic<uint64_t> requests_done{0};
  std::atomic<uint64_t> requests_failed{0};
  std::atomic<uint64_t> tokens_generated{0};

private:
  mutable std::mutex mu_;
  std::string planner_json_ = "{}";
};

// Shard files by content id, as the gateway serves them under /shards/<id>/<name>.
class shard_registry {
public:
  void add(const std::string& id, const std::string& name, net::shard_file file) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[id + "/" + name] = std::move(file);
  }
  std::optional<net::shard_file> find(const std::string& id, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(id + "/" + name);
    if (it == files_.end())
      return std::nullopt;
    return it->second;
  }

private:
  mutable std::mutex mu_;
  std::map<std::string, net::shard_file> files_;
};

}  // namespace tessera::actors
