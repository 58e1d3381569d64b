// The worker actor's side of the load probe (actors/load_probe.hpp): the one
// probe in flight on a worker. A Loaded{ok} is held back from the planner
// until the worker answered its probe and the answer was judged. CAF-free:
// the worker actor hands in how to reach the socket, the planner and other
// workers (worker_probe::links) and evicts on the answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "actors/load_probe.hpp"
#include "actors/wire_codec.hpp"
#include "actors/worker_guard.hpp"

namespace tessera::actors {

// Why a worker goes, and whether its name is banned.
struct probe_eviction {
  std::string reason;
  bool ban = true;
};

class worker_probe {
public:
  using clock_type = std::chrono::steady_clock;

  struct links {
    std::function<void(std::string)> send;         // a frame to the worker
    std::function<void(shard_loaded)> pass_on;     // a judged Loaded to the planner
    std::function<void(const std::string&)> evict_self;  // handed to the cache: a later holder may convict us
    std::shared_ptr<verify_registry> verify;       // bans a convicted earlier holder (may be null)
  };

  // `deadline_ms` + `per_position_ms` × positions: how long the worker has to answer.
  worker_probe(std::shared_ptr<load_probe_cache> cache, double deadline_ms, double per_position_ms, links l);

  // The worker (id, name, backend) reported `loaded`. true: a probe runs (or
  // one already runs for the shard) and the Loaded waits for it; false: pass
  // the Loaded on at once (not ok, not the assigned shard, probed before, or
  // no probe can be made from the stage's contract).
  bool on_loaded(const shard_loaded& loaded, const worker_guard& guard, clock_type::time_point now);
  bool answers(uint64_t request_id) const { return pending_ && pending_->request_id == request_id; }
  // The worker's Result for the probe: nullopt when it stays (its Loaded went
  // on to the planner); else why it goes.
  std::optional<probe_eviction> on_result(worker_frame& f, worker_guard& guard, uint64_t worker_id,
                                          const std::string& name, const std::string& backend,
                                          clock_type::time_point now);
  // An Error answering the probe: why the worker goes.
  probe_eviction on_error(const worker_frame& f, const worker_guard& guard) const;
  // An unanswered probe past its deadline: the reason to drop the worker (no ban).
  std::optional<std::string> overdue(clock_type::time_point now) const;
  // A new Assign voids the probe in flight (its sequence is released).
  void on_assign();

private:
  struct in_flight {
    uint64_t request_id = 0, sequence_id = 0;
    shard_loaded loaded;
    uint32_t layer_begin = 0, layer_end = 0;
    clock_type::time_point sent;
  };
  std::string what() const;  // "load probe of layers 4-7"
  void release();            // drops the probe's sequence on the worker; no probe in flight after

  std::shared_ptr<load_probe_cache> cache_;
  double deadline_ms_, per_position_ms_;
  links links_;
  std::optional<in_flight> pending_;
  std::set<std::string> passed_;  // shards this worker passed a probe on
};

}  // namespace tessera::actors
