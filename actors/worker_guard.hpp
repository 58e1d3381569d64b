// What the node checks of one worker, and the verdicts it shares between
// workers. No CAF: the worker actor holds a worker_guard and asks it at each
// frame; any answer other than nullopt is the reason to evict the worker at
// once (the worker actor closes the socket and quits with errc::evicted, the
// requests that used it recover elsewhere, the planner re-plans without it).
//
//   Hello     admit(): non-finite, negative or absurd FLOP/s claims and banned
//             names are refused; memory claims are capped.
//   Assign    assigned(): the stage's contract (result_check.hpp) from its cut.
//   Forward   forward_sent(): the step's deadline starts.
//   Result    check_result(): shape, dtype, bytes, finite values, vocabulary;
//             the step's wall time feeds the measured speed (EWMA).
//   Error     check_error(): "no stage loaded" for the shard it reported
//             loaded is a lie.
//   timer     overdue(): a Forward past its deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/node_config.hpp"
#include "actors/result_check.hpp"

namespace tessera::actors {

class shard_registry;
struct worker_info;

// Shared by every worker actor of a node (thread-safe): stage contracts by
// shard id, read once from the cut's manifest.json next to the stage's graph
// file, and the names of banned workers.
class verify_registry {
public:
  explicit verify_registry(std::shared_ptr<const shard_registry> shards);
  // The contract of shard `id` whose graph file the Assign names `graph_file`;
  // null (and `error` says why) when it cannot be read.
  std::shared_ptr<const stage_contract> contract(const std::string& id, const std::string& graph_file,
                                                 std::string& error);
  // A banned name is refused at its next Hello; the reason is what it did.
  void ban(const std::string& name, const std::string& reason);
  std::optional<std::string> ban_reason(const std::string& name) const;

private:
  std::shared_ptr<const shard_registry> shards_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const stage_contract>> contracts_;
  std::map<std::string, std::string> banned_;
};

class worker_guard {
public:
  using clock_type = std::chrono::steady_clock;

  // `registry` may be null: then Results are not checked against a contract
  // (claims, deadlines and lies about loading still are).
  worker_guard(const node_config& cfg, std::shared_ptr<verify_registry> registry);

  // Hello: nullopt admits the worker (its memory claim capped in `hello`);
  // else the reason it is refused.
  std::optional<std::string> admit(worker_info& hello);
  // The worker is told to load shard `id` (files[0] is `graph_file`).
  void assigned(const std::string& id, const std::string& graph_file, uint32_t layer_begin, uint32_t layer_end);
  // The worker answered Loaded for `id`.
  void loaded(const std::string& id, bool ok);
  // The shard last assigned, its layers and its contract (null: none read).
  const std::string& assigned_shard() const { return assigned_shard_; }
  uint32_t layer_begin() const { return layer_begin_; }
  uint32_t layer_end() const { return layer_end_; }
  const stage_contract* contract() const { return contract_.get(); }

  void forward_sent(uint64_t request_id, uint32_t seq_len, clock_type::time_point now);
  // A Result for the step in flight of `request_id`: nullopt when it is sound.
  std::optional<std::string> check_result(uint64_t request_id, uint32_t seq_len, const std::vector<tensor_blob>& tensors,
                                          const std::vector<int64_t>& token_ids, clock_type::time_point now);
  // An Error answering a Forward for `forward_shard`: the reason to evict when
  // it is a lie (it says no stage is loaded, yet the worker reported this
  // shard Loaded and got no Assign since).
  std::optional<std::string> check_error(uint32_t code, const std::string& forward_shard) const;
  // The step dropped without an answer being due (released, or failed by an Error).
  void forget(uint64_t request_id);
  // The worker answered a step with an Error (its turn is over).
  void answered(clock_type::time_point now);
  // The oldest Forward past its deadline (step_deadline_ms + per position),
  // if any. A worker runs its Forwards in arrival order, so the clock of the
  // oldest one starts when it was sent or when the worker last answered,
  // whichever is later: steps queued behind others are not counted late.
  std::optional<std::string> overdue(clock_type::time_point now) const;

  // Measured speed: EWMA of wall ms per position over steps that had the
  // worker to themselves, and the layers they ran (0 until measured).
  double ms_per_position() const { return ms_per_position_; }
  uint32_t measured_layer_begin() const { return measured_begin_; }
  uint32_t measured_layer_end() const { return measured_end_; }

private:
  struct in_flight {
    uint32_t seq_len = 0;
    clock_type::time_point sent;
    bool alone = false;  // nothing else was in flight on this worker when it went out
    // The contract in force when it went out: a worker re-assigned while the
    // step ran answers it with the shard it ran it on.
    std::shared_ptr<const stage_contract> contract;
  };
  node_config cfg_;
  std::shared_ptr<verify_registry> registry_;
  std::string name_;
  std::shared_ptr<const stage_contract> contract_;
  std::string assigned_shard_, loaded_shard_;
  uint32_t layer_begin_ = 0, layer_end_ = 0;
  std::map<uint64_t, in_flight> pending_;
  clock_type::time_point last_answer_{};  // the worker's last Result or step Error
  double ms_per_position_ = 0;
  uint32_t measured_begin_ = 0, measured_end_ = 0;
};

}  // namespace tessera::actors
