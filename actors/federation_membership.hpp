// Who of the federation is alive, who leads and in which election epoch, as
// a value the federation actor feeds with what it hears (no CAF, no I/O).
//
// Rules: while this node and its alive peers are a majority of the
// configured federation (this node + its configured peers), the leader is the
// lowest id among them; otherwise there is no leader, so of two sides of a
// cut at most one has one (a federation of two loses its leader with either
// node; use three or more).
// An epoch is issued by a leader, and every node keeps the highest epoch it
// has heard of with its issuer. A node that becomes leader issues an epoch
// above that; a leader that hears of an epoch not below its own issued by
// another node (the other side of a healed cut, or a peer that led while
// this node was away) issues one above it again. Followers take the highest
// epoch they hear. So epochs only grow, two leaders never share an epoch
// once they hear each other, every leader change ends at a higher epoch, and
// nodes that hear each other end at one leader and one epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::actors {

// One node as /api/status shows it.
struct federation_node_view {
  std::string id;       // empty: a configured peer address never reached
  std::string address;  // its federation listen address (as it claims)
  bool alive = false;
  bool leader = false;
  bool self = false;
  uint64_t epoch = 0;   // the epoch it announced last (this node: its own)
};

struct federation_view {
  std::string id;
  std::string leader;  // empty: no majority reachable, no leader
  uint64_t epoch = 0;
  std::vector<federation_node_view> nodes;  // this node first, then peers by id, then unreached addresses
};

class federation_membership {
public:
  using clock = std::chrono::steady_clock;

  // `stored_epoch`: the epoch persisted by an earlier run (0: none); a node
  // that leads issues epochs above it. With no peers configured the node
  // leads itself at once.
  federation_membership(std::string self_id, std::string self_address, std::vector<std::string> peer_addresses,
                        uint64_t stored_epoch);

  // A peer passed the challenge (again): alive from `now`.
  void joined(const std::string& id, const std::string& address, clock::time_point now);
  // A heartbeat of an authenticated peer: the highest epoch it has heard of,
  // that epoch's issuer, and the leader it follows.
  void heard(const std::string& id, uint64_t epoch, const std::string& issuer, const std::string& leader,
             clock::time_point now);
  // Its link went down: dead at once.
  void lost(const std::string& id);
  // Peers silent for longer than `timeout` are dead; returns their ids.
  std::vector<std::string> expire(clock::time_point now, std::chrono::milliseconds timeout);

  bool alive(const std::string& id) const;
  const std::string& leader() const { return leader_; }  // empty: none
  size_t quorum() const { return quorum_; }              // nodes alive needed for a leader
  bool leading() const { return leader_ == self_id_; }
  uint64_t epoch() const { return epoch_; }
  const std::string& issuer() const { return issuer_; }  // who issued epoch() (empty: an earlier run's)
  federation_view view() const;

private:
  struct peer {
    std::string address;
    bool alive = false;
    uint64_t epoch = 0;
    std::string issuer, leader;
    clock::time_point last_heard;
  };
  void settle();
  void issue();

  std::string self_id_, self_address_;
  std::vector<std::string> configured_;
  std::map<std::string, peer> peers_;
  std::string leader_;
  size_t quorum_ = 1;
  uint64_t epoch_ = 0;  // the highest epoch heard of (issued here while leading)
  std::string issuer_;
};

// The "federation" object of /api/status.
std::string federation_status_json(const federation_view& view);

// The epoch persisted under `state_dir` (file "epoch"; 0 when there is none).
// Throws std::runtime_error naming the file when it exists but cannot be read as a number.
uint64_t load_federation_epoch(const std::string& state_dir);
// Writes it atomically (temporary file, then rename); creates the directory.
// Throws std::runtime_error naming the file on failure.
void store_federation_epoch(const std::string& state_dir, uint64_t epoch);

}  // namespace tessera::actors
