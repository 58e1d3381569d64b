// The worker actor's side of the load probe (actors/load_probe.hpp): the one
// probe in flight on a worker. A Loaded{ok} is held back from the planner
// until the worker answered its probe and the answer was judged; the worker
// actor sends the frames and carries out the verdict. CAF-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "actors/load_probe.hpp"
#include "actors/messages.hpp"

namespace tessera::actors {

class worker_probe {
public:
  using clock_type = std::chrono::steady_clock;

  // `deadline_ms` + `per_position_ms` × positions: how long the worker has to answer.
  worker_probe(std::shared_ptr<load_probe_cache> cache, double deadline_ms, double per_position_ms);

  // The worker reported `loaded` (ok) for the shard it was assigned, layers
  // [layer_begin, layer_end) under `contract`. Returns the Forward frame to
  // send, or nullopt when no probe runs (the shard passed its probe on this
  // worker before, or no probe can be made: `why_not` says) — then the Loaded
  // goes to the planner at once.
  std::optional<std::string> start(const shard_loaded& loaded, const stage_contract* contract, uint32_t layer_begin,
                                   uint32_t layer_end, clock_type::time_point now, std::string& why_not);

  bool pending() const { return pending_.has_value(); }
  bool answers(uint64_t request_id) const { return pending_ && pending_->request_id == request_id; }
  uint64_t sequence() const { return pending_ ? pending_->sequence_id : 0; }
  std::string shard() const { return pending_ ? pending_->loaded.shard_id : std::string(); }
  uint32_t positions() const { return cache_->positions(); }
  // "load probe of layers 4-7", for reasons.
  std::string what() const;

  // The probe's Loaded, to pass on once the answer was judged; the probe ends.
  shard_loaded take_loaded();
  // Judges the worker's answer (its Result passed the contract checks) and
  // ends the probe; the shard counts as passed unless the worker is guilty.
  probe_verdict judge(probe_answer answer);
  // An unanswered probe past its deadline: the reason to drop the worker.
  std::optional<std::string> overdue(clock_type::time_point now) const;
  // A new Assign voids the probe in flight (its sequence is to be released).
  void drop() { pending_.reset(); }

private:
  struct in_flight {
    uint64_t request_id = 0, sequence_id = 0;
    shard_loaded loaded;
    uint32_t layer_begin = 0, layer_end = 0;
    clock_type::time_point sent;
  };
  std::shared_ptr<load_probe_cache> cache_;
  double deadline_ms_, per_position_ms_;
  std::optional<in_flight> pending_;
  std::set<std::string> passed_;  // shards this worker passed a probe on
};

}  // namespace tessera::actors
