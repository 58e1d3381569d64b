// When has a serving worker changed enough to re-plan? The planner actor
// predicts each serving worker's per-token stage time (compute + link, from
// its measured speed and link) once a second and asks this tracker. A worker
// drifts when its prediction moved by more than `threshold` (relative) from
// the one the last plan was decided on, on `polls` observations in a row: a
// single noisy step does not re-plan, a tab that stays slow does. Pure, no CAF.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace tessera::actors {

struct stage_prediction {
  int layer_begin = 0, layer_end = 0;
  double ms = 0;  // predicted per-token stage time
};

class stage_drift {
public:
  // threshold 0 turns the tracker off; polls >= 1 (std::invalid_argument
  // naming the value otherwise, or a negative / non-finite threshold).
  stage_drift(double threshold, uint32_t polls);

  // The predictions a plan was decided on: the new baseline.
  void rebase(const std::map<uint64_t, stage_prediction>& now);
  // This poll's predictions. A worker new to the baseline, or serving another
  // range, joins the baseline as it is now. Returns, once some worker drifted,
  // a reason in words ("worker 3 stage [0,4) 2.1 ms -> 5.3 ms per token") and
  // rebases every worker; nullopt otherwise.
  std::optional<std::string> observe(const std::map<uint64_t, stage_prediction>& now);

private:
  struct entry {
    stage_prediction base;
    uint32_t streak = 0;
  };
  double threshold_;
  uint32_t polls_;
  std::map<uint64_t, entry> base_;
};

}  // namespace tessera::actors
