// Adapters between the model/worker views of the runtime and planner/'s value
// types, and the plan as JSON for /api/status. Pure functions, no CAF.
#pragma once

#include <string>
#include <vector>

#include "actors/model_profile.hpp"  // to_model_profile
#include "planner/planner.hpp"

namespace tessera::actors {

struct worker_info;

// Local links: loopback bandwidth and RTT; flops 0 (benchmark skipped) → a modest default.
planner::worker_profile to_worker_profile(const worker_info& info);
// {"feasible", "objective", "predicted_ms_per_token", "reason", "stages": [{worker, layers: [a, b],
//  memory_bytes, memory_budget, predicted_ms}]}
std::string plan_json(const planner::plan& p);
// The worker ids (as planner ids) and ranges of a plan, comparable across re-plans.
std::string plan_signature(const planner::plan& p);

}  // namespace tessera::actors
