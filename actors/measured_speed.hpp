// The planner's speed for a worker: what the node measured, bounded above by
// what the worker claimed. The worker actor times each step that had the
// worker to itself (wall ms per position, an EWMA: actors/worker_guard.hpp);
// these turn that into FLOP/s over the layers it ran. Pure, no CAF.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/planner.hpp"

namespace tessera::actors {

// FLOP/s a worker showed running layers [begin, end) at `ms_per_position`
// (the embedding and head count when the range starts at 0 / ends at the
// last layer); 0 when nothing was measured or the range is not in the model.
double shown_flops_per_s(const planner::model_profile& model, uint32_t begin, uint32_t end, double ms_per_position);

// The speed to plan with: `claimed` until a measurement exists, then the
// measurement, never above the claim.
double planned_flops_per_s(double claimed, double shown);

struct speed_claim {
  double claimed = 0;
  double shown = 0;  // 0: not measured yet
};

// planned_flops_per_s for a whole pool, so that measured and unmeasured
// workers compare fairly: a step's wall time includes the link and the
// runtime's overhead, so measured speeds sit well below benchmark claims; an
// unmeasured worker's claim is scaled by the median shown/claimed ratio of the
// measured ones (never up). Without that, every newcomer would look faster
// than every measured incumbent and each join would move the plan.
std::vector<double> planned_speeds(const std::vector<speed_claim>& pool);

}  // namespace tessera::actors
