#include "actors/model_profile.hpp"

namespace tessera::actors {

planner::model_profile to_model_profile(const model::model_stats& stats) {
  planner::model_profile m;
  m.name = stats.name;
  for (const auto& l : stats.layers)
    m.layers.push_back({l.param_bytes, l.flops_per_token, l.kv_bytes_per_token, l.boundary_bytes_per_token});
  m.embed_param_bytes = stats.embed_param_bytes;
  m.head_param_bytes = stats.head_param_bytes;
  m.prelude_param_bytes = stats.prelude_param_bytes;
  m.embed_flops_per_token = stats.embed_flops_per_token;
  m.head_flops_per_token = stats.head_flops_per_token;
  m.hidden_bytes_per_token = stats.hidden_bytes_per_token;
  return m;
}

}  // namespace tessera::actors
