// Spot checks of stage steps: which step of a request is re-run on a second
// holder of the same stage (a standby), and whether the two answers agree.
// Pure functions and one thread-safe ledger, no CAF; the request actor's side
// is request_verify.cpp.
//
//   choose_check_hops()  every hop whose worker is still in its first
//                        `first_steps` checked steps, and each other hop with
//                        probability `rate`; only hops with a verifier
//                        (another worker holding the same shard).
//   compare_hidden()     the checked worker's boundary output for positions
//                        [position, position + seq_len) against the verifier's
//                        run of positions [0, position + seq_len): the largest
//                        difference relative to the verifier's largest
//                        magnitude must stay within the tolerance of the
//                        two workers' backend pair.
//   compare_tokens()     the last stage: the token ids must be equal.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/backend_tolerance.hpp"
#include "actors/step_data.hpp"

namespace tessera::actors {

struct spot_check_settings {
  double rate = 0.02;        // probability that a step is checked ([verify] rate; 0: only first steps)
  uint32_t first_steps = 4;  // a worker's first checked steps ([verify] first_steps)
  // Relative difference two holders may differ by, by the pair of their
  // backends ([verify] tolerance for one backend, tolerance_<pair> for two).
  backend_tolerances tolerances;
};

// Shared by the node's requests: how many checks each worker (by node id)
// passed, and what every check came to.
class spot_check_ledger {
public:
  explicit spot_check_ledger(spot_check_settings s) : settings_(s) {}
  const spot_check_settings& settings() const { return settings_; }

  // The worker has passed fewer than first_steps checks: its steps are always checked.
  bool is_new(uint64_t worker_id) const;
  void passed(uint64_t worker_id);
  void mismatched() { ++mismatches_; }
  void inconclusive() { ++inconclusive_; }

  uint64_t passes() const { return passes_; }
  uint64_t mismatches() const { return mismatches_; }
  uint64_t inconclusives() const { return inconclusive_; }

private:
  spot_check_settings settings_;
  mutable std::mutex mu_;
  std::map<uint64_t, uint32_t> passed_;
  std::atomic<uint64_t> passes_{0}, mismatches_{0}, inconclusive_{0};
};

// One hop of the route as the choice sees it.
struct check_candidate {
  bool has_verifier = false;  // another worker holds this hop's shard
  bool can_replay = false;    // the hop's inputs for every earlier position are known
  bool is_new = false;        // its worker is still in its first checked steps
};

// The hops to check this step, in order (empty: none). `draw()` returns
// uniform [0, 1) values, one per eligible hop that is not new.
std::vector<uint32_t> choose_check_hops(const std::vector<check_candidate>& hops, double rate,
                                        const std::function<double()>& draw);

// Tensors [1, a, ...] followed by [1, b, ...] of the same names and dtypes:
// [1, a + b, ...]. nullopt (and `error`) when they do not line up.
std::optional<std::vector<tensor_blob>> concat_positions(const std::vector<tensor_blob>& head,
                                                         const std::vector<tensor_blob>& tail, std::string& error);

struct check_outcome {
  bool agree = false;
  double difference = 0;  // relative difference (hidden states); 0 or 1 for tokens
  std::string detail;     // what differs, for the eviction reason and the log
};

// `checked`: [1, seq_len, ...] tensors; `verifier`: [1, n, ...] with n >= seq_len
// (its last seq_len positions are compared). Tensors that cannot be compared
// (names, shapes) disagree.
check_outcome compare_hidden(const std::vector<tensor_blob>& checked, const std::vector<tensor_blob>& verifier,
                             uint32_t seq_len, double tolerance);
check_outcome compare_tokens(const std::vector<int64_t>& checked, const std::vector<int64_t>& verifier);

}  // namespace tessera::actors
