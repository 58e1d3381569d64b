// What the parts of a pooled node share across threads (no CAF): its
// federation id and id base, the federation's view (leader, epoch), the base
// URL of its own gateway (shard downloads of the workers it assigns go there,
// whichever node they are on) and the pool's status as the leader last
// rendered it (for /api/status on every node). Only made when [federation]
// pool = true (docs/federation.md).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "actors/federation.hpp"
#include "actors/plan_epoch.hpp"

namespace tessera::actors {

class pool_context {
public:
  explicit pool_context(std::string node_id) : node_id_(std::move(node_id)), id_base_(pool_id_base(node_id_)) {}

  const std::string& node_id() const { return node_id_; }
  uint64_t id_base() const { return id_base_; }
  // Written by the federation member, read by anyone.
  const std::shared_ptr<federation_board>& federation() const { return fed_; }

  // The epoch this node's planner stamps on what it hands out: the current
  // epoch while this node leads, nullopt while it does not (then its planner
  // hands out nothing).
  std::optional<uint64_t> leading_epoch() const {
    auto v = fed_->get();
    if (v.leader != node_id_)
      return std::nullopt;
    return v.epoch;
  }

  void set_gateway(std::string base_url) {
    std::lock_guard<std::mutex> lock(mu_);
    gateway_ = std::move(base_url);
  }
  std::string gateway() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gateway_;
  }

  // The leader planner's pool status (pool_status_json); empty: no leader answered.
  void set_leader_status(std::string json) {
    std::lock_guard<std::mutex> lock(mu_);
    leader_status_ = std::move(json);
  }
  std::string leader_status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return leader_status_;
  }

private:
  std::string node_id_;
  uint64_t id_base_;
  std::shared_ptr<federation_board> fed_ = std::make_shared<federation_board>();
  mutable std::mutex mu_;
  std::string gateway_, leader_status_;
};

}  // namespace tessera::actors
