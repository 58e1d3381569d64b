// The load probe: before a worker that reported Loaded for a shard is routed
// to (serving, or standing by as a spot-check verifier), it runs a seeded
// probe through its stage and the node compares the answer with what other
// holders of the same shard answered. Pure functions and one thread-safe
// cache, no CAF; the worker actor's side is worker_probe.cpp.
//
//   make_probe_input()  the probe of a stage: `positions` token ids for a
//                       first stage, else float32 hidden states in [-1, 1)
//                       for each boundary input of the stage's contract —
//                       both drawn from a PRNG seeded by (seed, shard).
//   load_probe_cache    the answers by (shard, layer range, seed): the first
//                       holder's answer is kept unconfirmed; the next holder
//                       that agrees confirms it. judge() says who is guilty
//                       when two answers disagree (docs/security.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/result_check.hpp"
#include "actors/step_data.hpp"

namespace tessera::actors {

struct node_config;

struct probe_input {
  uint32_t positions = 0;
  std::vector<int64_t> token_ids;    // a first stage (takes token ids)
  std::vector<tensor_blob> tensors;  // an inner or last stage (takes boundary tensors)
};

// The same (contract, seed, positions) always gives the same probe. nullopt
// (and `error`) when an input has a dimension the probe cannot fill.
std::optional<probe_input> make_probe_input(const stage_contract& c, uint64_t seed, uint32_t positions,
                                            std::string& error);

// What one worker answered to a probe.
struct probe_answer {
  std::vector<tensor_blob> tensors;  // boundary outputs (inner stages)
  std::vector<int64_t> token_ids;    // the token head's greedy id (the last stage)
  std::string backend;               // the worker's backend (backend_of its Hello's device)
  uint64_t worker_id = 0;
  std::string worker_name;
  // Evicts (and bans) this worker; the cache calls nothing itself, it hands
  // this back when a later holder convicts an unconfirmed answer.
  std::function<void(const std::string&)> evict;
};

enum class probe_verdict_kind {
  provisional,     // no earlier answer: accepted, kept unconfirmed
  agrees,          // matches a confirmed answer (or its own earlier one)
  confirms,        // matches another holder's unconfirmed answer: now confirmed
  newcomer_guilty, // differs from a confirmed answer (or its own earlier one): evict the prober
  holder_guilty,   // differs from another holder's unconfirmed answer: evict that holder
};

struct probe_verdict {
  probe_verdict_kind kind = probe_verdict_kind::provisional;
  double difference = 0;
  double tolerance = 0;
  std::string reason;  // the eviction reason (the guilty worker's), or what was compared
  uint64_t holder_id = 0;
  std::string holder_name;
  std::function<void(const std::string&)> evict_holder;  // holder_guilty: evicts the holder
};

// Relative tolerance two holders' hidden states may differ by, by their two backends.
using tolerance_fn = std::function<double(const std::string&, const std::string&)>;

// Shared by a node's worker actors (thread-safe).
class load_probe_cache {
public:
  load_probe_cache(uint64_t seed, uint32_t positions, tolerance_fn tolerance);
  uint64_t seed() const { return seed_; }
  uint32_t positions() const { return positions_; }

  // Compares `answer` with what is kept for (shard_id, layer range, seed) and
  // updates the entry:
  //   nothing kept                  -> provisional; `answer` kept unconfirmed
  //   a confirmed answer            -> agrees, or newcomer_guilty
  //   the same worker's unconfirmed -> agrees, or newcomer_guilty
  //   another's unconfirmed         -> confirms (entry confirmed), or
  //                                    holder_guilty (`answer` replaces it, unconfirmed)
  // `layers` names the range in reasons ("4-7").
  probe_verdict judge(const std::string& shard_id, const std::string& layers, probe_answer answer);

  // A worker that left: its unconfirmed answers stay (a later holder may still
  // convict or confirm them), but nothing is evicted through it any more.
  void left(uint64_t worker_id);

  size_t entries() const;

private:
  struct entry {
    probe_answer answer;
    bool confirmed = false;
  };
  uint64_t seed_;
  uint32_t positions_;
  tolerance_fn tolerance_;
  mutable std::mutex mu_;
  std::map<std::string, entry> entries_;
};

// The node's cache: a seed drawn at start, kLoadProbePositions positions,
// tolerances by backend pair from [verify].
constexpr uint32_t kLoadProbePositions = 3;
std::shared_ptr<load_probe_cache> make_load_probe_cache(const node_config& cfg);

}  // namespace tessera::actors
