// Membership, leader and epoch of the federation (rules in the header), the
// status JSON and the persisted epoch.
#include "actors/federation_membership.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tessera::actors {

namespace fs = std::filesystem;

federation_membership::federation_membership(std::string self_id, std::string self_address,
                                             std::vector<std::string> peer_addresses, uint64_t stored_epoch)
    : self_id_(std::move(self_id)),
      self_address_(std::move(self_address)),
      configured_(std::move(peer_addresses)),
      epoch_(stored_epoch) {
  quorum_ = (configured_.size() + 1) / 2 + 1;
  settle();
}

void federation_membership::joined(const std::string& id, const std::string& address, clock::time_point now) {
  if (id == self_id_)
    return;
  auto& p = peers_[id];
  p.address = address;
  p.alive = true;
  p.epoch = 0;  // unknown until it beats
  p.issuer.clear();
  p.leader.clear();
  p.last_heard = now;
  settle();
}

void federation_membership::heard(const std::string& id, uint64_t epoch, const std::string& issuer,
                                  const std::string& leader, clock::time_point now) {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.alive)
    return;  // only peers that passed the challenge and are still linked count
  it->second.epoch = epoch;
  it->second.issuer = issuer;
  it->second.leader = leader;
  it->second.last_heard = now;
  if (epoch > epoch_) {
    epoch_ = epoch;
    issuer_ = issuer;
  }
  settle();
}

void federation_membership::lost(const std::string& id) {
  auto it = peers_.find(id);
  if (it == peers_.end() || !it->second.alive)
    return;
  it->second.alive = false;
  settle();
}

std::vector<std::string> federation_membership::expire(clock::time_point now, std::chrono::milliseconds timeout) {
  std::vector<std::string> gone;
  for (auto& [id, p] : peers_)
    if (p.alive && now - p.last_heard > timeout) {
      p.alive = false;
      gone.push_back(id);
    }
  if (!gone.empty())
    settle();
  return gone;
}

bool federation_membership::alive(const std::string& id) const {
  if (id == self_id_)
    return true;
  auto it = peers_.find(id);
  return it != peers_.end() && it->second.alive;
}

void federation_membership::issue() {
  epoch_ += 1;
  issuer_ = self_id_;
}

void federation_membership::settle() {
  std::string lowest = self_id_;
  size_t alive = 1;
  for (auto& [id, p] : peers_)
    if (p.alive) {
      ++alive;
      lowest = std::min(lowest, id);
    }
  if (alive < quorum_)
    lowest.clear();
  if (lowest != leader_) {
    leader_ = lowest;
    if (leading())
      issue();
  }
  if (!leading())
    return;
  for (auto& [id, p] : peers_)
    if (p.alive && p.issuer != self_id_ && p.epoch >= epoch_) {
      epoch_ = p.epoch;
      issue();
    }
}

federation_view federation_membership::view() const {
  federation_view v;
  v.id = self_id_;
  v.leader = leader_;
  v.epoch = epoch_;
  v.nodes.push_back({self_id_, self_address_, true, leading(), true, epoch_});
  for (auto& [id, p] : peers_)
    v.nodes.push_back({id, p.address, p.alive, p.alive && id == leader_, false, p.epoch});
  for (auto& address : configured_) {
    bool known = std::any_of(peers_.begin(), peers_.end(), [&](auto& e) { return e.second.address == address; });
    if (!known)
      v.nodes.push_back({"", address, false, false, false, 0});
  }
  return v;
}

std::string federation_status_json(const federation_view& view) {
  nlohmann::json nodes = nlohmann::json::array();
  for (auto& n : view.nodes)
    nodes.push_back({{"id", n.id.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.id)},
                     {"address", n.address},
                     {"alive", n.alive},
                     {"leader", n.leader},
                     {"self", n.self},
                     {"epoch", n.epoch}});
  nlohmann::json j = {{"id", view.id},
                      {"leader", view.leader.empty() ? nlohmann::json(nullptr) : nlohmann::json(view.leader)},
                      {"epoch", view.epoch},
                      {"nodes", nodes}};
  return j.dump();
}

uint64_t load_federation_epoch(const std::string& state_dir) {
  auto file = fs::path(state_dir) / "epoch";
  std::ifstream in(file);
  if (!in)
    return 0;
  std::string text;
  std::getline(in, text);
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error(file.string() + ": value \"" + text + "\" is not an election epoch (a number)");
  return std::stoull(text);
}

void store_federation_epoch(const std::string& state_dir, uint64_t epoch) {
  auto file = fs::path(state_dir) / "epoch";
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec)
    throw std::runtime_error(state_dir + ": cannot create the federation state dir: " + ec.message());
  auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << epoch << "\n";
    out.flush();
    if (!out)
      throw std::runtime_error(tmp + ": cannot write the election epoch");
  }
  fs::rename(tmp, file, ec);
  if (ec)
    throw std::runtime_error(file.string() + ": cannot store the election epoch: " + ec.message());
}

}  // namespace tessera::actors
