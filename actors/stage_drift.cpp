#include "actors/stage_drift.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace tessera::actors {

stage_drift::stage_drift(double threshold, uint32_t polls) : threshold_(threshold), polls_(polls) {
  if (!std::isfinite(threshold) || threshold < 0)
    throw std::invalid_argument("replan_change must be a finite number >= 0, got " + std::to_string(threshold));
  if (polls == 0)
    throw std::invalid_argument("replan_change_polls must be at least 1, got 0");
}

void stage_drift::rebase(const std::map<uint64_t, stage_prediction>& now) {
  base_.clear();
  for (auto& [id, p] : now)
    base_[id] = {p, 0};
}

std::optional<std::string> stage_drift::observe(const std::map<uint64_t, stage_prediction>& now) {
  std::optional<std::string> why;
  std::map<uint64_t, entry> next;
  for (auto& [id, p] : now) {
    auto it = base_.find(id);
    if (it == base_.end() || it->second.base.layer_begin != p.layer_begin || it->second.base.layer_end != p.layer_end ||
        !(it->second.base.ms > 0) || !std::isfinite(it->second.base.ms)) {
      next[id] = {p, 0};
      continue;
    }
    entry e = it->second;
    const double change = std::abs(p.ms - e.base.ms) / e.base.ms;
    e.streak = threshold_ > 0 && std::isfinite(p.ms) && change > threshold_ ? e.streak + 1 : 0;
    if (e.streak >= polls_ && !why) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "worker %llu stage [%d,%d) %.2f ms -> %.2f ms per token",
                    static_cast<unsigned long long>(id), p.layer_begin, p.layer_end, e.base.ms, p.ms);
      why = buf;
    }
    next[id] = e;
  }
  base_ = std::move(next);
  if (why)
    rebase(now);
  return why;
}

}  // namespace tessera::actors
