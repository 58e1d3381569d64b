// The inspector's view of a model (model::model_stats) as the planner's input
// (planner::model_profile). One conversion, used by the node's planner actor and
// by `tessera plan`, so the CLI predicts what the node will do. No CAF.
#pragma once

#include "model/base/model_stats.hpp"
#include "planner/planner.hpp"

namespace tessera::actors {

planner::model_profile to_model_profile(const model::model_stats& stats);

}  // namespace tessera::actors
