// Stability-aware re-planning: keep the current plan unless the new one is
// better by options.stability_margin, so weights do not move for nothing.
#include <algorithm>
#include <cstdio>

#include "planner/partition_detail.hpp"

namespace tessera::planner {

replan_result replan(const model_profile& model, const std::vector<worker_profile>& workers,
                     const plan& current, const planner_options& options) {
  // Workers hold what they serve now.
  std::vector<worker_profile> held = workers;
  std::vector<assignment> current_stages;
  std::string lost;
  for (const stage& s : current.stages) {
    auto it = std::find_if(held.begin(), held.end(), [&](const worker_profile& w) { return w.id == s.worker_id; });
    if (it == held.end()) {
      if (lost.empty()) lost = s.worker_id;
      continue;
    }
    it->cached_layers.push_back(s.layers);
    current_stages.push_back({static_cast<int>(it - held.begin()), s.layers});
  }
  std::vector<std::vector<int>> extra;
  if (!current_stages.empty()) {
    std::vector<int> order;
    for (const auto& a : current_stages) order.push_back(a.worker_index);
    for (int k = 0; k < static_cast<int>(held.size()); ++k)
      if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
    extra.push_back(order);
  }
  replan_result out;
  out.candidate = detail::partition_with_orders(model, held, options, extra);
  char buf[256];
  if (current.stages.empty()) {
    out.chosen = out.candidate;
    out.why = "no current plan";
  } else if (!lost.empty()) {
    out.chosen = out.candidate;
    out.why = "worker " + lost + " of the current plan is gone";
  } else {
    const plan now = evaluate(model, held, current_stages, options);
    if (!now.feasible) {
      out.chosen = out.candidate;
      out.why = "the current plan no longer fits: " + now.reason;
    } else if (!out.candidate.feasible ||
               out.candidate.predicted_ms_per_token >= now.predicted_ms_per_token * (1.0 - options.stability_margin)) {
      out.chosen = now;
      out.kept_current = true;
      std::snprintf(buf, sizeof buf, "kept current plan: %.3f ms vs candidate %.3f ms (margin %.0f%%)",
                    now.predicted_ms_per_token, out.candidate.predicted_ms_per_token, options.stability_margin * 100);
      out.why = buf;
    } else {
      out.chosen = out.candidate;
      std::snprintf(buf, sizeof buf, "new plan: %.3f ms vs current %.3f ms (better than the %.0f%% margin)",
                    out.candidate.predicted_ms_per_token, now.predicted_ms_per_token, options.stability_margin * 100);
      out.why = buf;
    }
  }
  out.bytes_to_move = 0;
  for (const stage& s : out.chosen.stages) out.bytes_to_move += s.load_bytes;
  return out;
}

}  // namespace tessera::planner
