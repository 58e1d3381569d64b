// The epoch rule of the federation's one pool, as a value (no CAF, no I/O):
// every assignment and route the leader's planner hands out carries the
// election epoch it was issued in; a worker actor (and a node's pool actor)
// keeps the highest epoch it has seen and refuses anything stamped below it,
// so a deposed leader can never have its plan served beside the new one.
// Epoch 0 is what a node outside a pool stamps: it never refuses anything there.
//
// Also here: the id ranges of a pooled node. Worker ids and request ids
// (which are also KV sequence ids on the workers) must not collide between
// nodes that share workers, so a pooled node counts them from a base taken
// from its federation id.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::actors {

class epoch_guard {
public:
  // True when `epoch` is not below the highest seen (which it then raises);
  // false leaves the highest as it was and sets `why` to a reason naming both.
  bool admit(uint64_t epoch, std::string& why) {
    if (epoch < highest_) {
      why = "epoch " + std::to_string(epoch) + " is older than epoch " + std::to_string(highest_) + " seen here";
      return false;
    }
    highest_ = epoch;
    return true;
  }
  uint64_t highest() const { return highest_; }

private:
  uint64_t highest_ = 0;
};

// The first id of a pooled node's range: (FNV-1a(id) mod 4096 + 1) * 2^40, so
// ids stay below 2^53 (exact as JavaScript numbers) and a node counts 2^40 ids
// before it could reach the next range. Two ids share a range with
// probability 1/4096: a pooled node logs its base at start, and the leader's
// planner logs an error when a worker of another node joins with an id in its range.
inline uint64_t pool_id_base(const std::string& node_id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : node_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return ((h % 4096) + 1) << 40;
}

// Where one run of a pooled node starts counting inside its range: the low
// 20 bits of the start time in ms, times 2^20. A restarted node must not
// reuse the request ids of its earlier run: the workers of other nodes may
// still remember them as released sequences and drop their steps.
inline uint64_t pool_run_offset(uint64_t unix_ms) { return (unix_ms % (uint64_t{1} << 20)) << 20; }

}  // namespace tessera::actors
