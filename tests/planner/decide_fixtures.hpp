// Fixtures shared by the planner tests: a uniform model and the serving view
// after a decision was carried out.
#pragma once

#include <string>

#include "planner/decide.hpp"

namespace tessera::planner::testing {

// n layers of 1 MB weights and 1 GFLOP per token, no KV, 4 KiB boundaries.
inline model_profile uniform_model(int n) {
  model_profile m;
  for (int l = 0; l < n; ++l) m.layers.push_back({1'000'000, 1'000'000'000, 0, 4096});
  return m;
}

// The serving view once `d` was assigned and loaded everywhere (shard ids
// "cut<begin>-<end>"), with `change` as what happened next.
inline serving_view serving_after(const decision& d, const std::string& change = "worker joined") {
  serving_view v;
  v.current = d.stages;
  for (auto& s : v.current) s.shard = "cut" + std::to_string(s.layers.begin) + "-" + std::to_string(s.layers.end);
  v.ready = true;
  v.last_plan = v.current;
  v.last_served = v.current;
  v.change = change;
  return v;
}

}  // namespace tessera::planner::testing
