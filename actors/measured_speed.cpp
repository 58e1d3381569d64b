#include "actors/measured_speed.hpp"

#include <algorithm>

namespace tessera::actors {

double shown_flops_per_s(const planner::model_profile& model, uint32_t begin, uint32_t end, double ms_per_position) {
  auto layers = static_cast<uint32_t>(model.num_layers());
  if (!(ms_per_position > 0) || begin >= end || end > layers)
    return 0;
  double flops = 0;
  for (uint32_t i = begin; i < end; ++i)
    flops += static_cast<double>(model.layers[i].flops_per_token);
  if (begin == 0)
    flops += static_cast<double>(model.embed_flops_per_token);
  if (end == layers)
    flops += static_cast<double>(model.head_flops_per_token);
  return flops / (ms_per_position / 1000.0);
}

double planned_flops_per_s(double claimed, double shown) {
  if (!(shown > 0))
    return claimed;
  return std::min(claimed, shown);
}

std::vector<double> planned_speeds(const std::vector<speed_claim>& pool) {
  std::vector<double> ratios;
  for (auto& w : pool)
    if (w.shown > 0 && w.claimed > 0)
      ratios.push_back(std::min(1.0, w.shown / w.claimed));
  double scale = 1;
  if (!ratios.empty()) {
    std::sort(ratios.begin(), ratios.end());
    scale = ratios[ratios.size() / 2];
  }
  std::vector<double> out;
  for (auto& w : pool)
    out.push_back(w.shown > 0 ? planned_flops_per_s(w.claimed, w.shown) : w.claimed * scale);
  return out;
}

}  // namespace tessera::actors
