#include "actors/stop_strings.hpp"

#include <algorithm>
#include <cstdint>

namespace tessera::actors {

stop_matcher::stop_matcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty())
      stops_.push_back(std::move(s));
}

std::string stop_matcher::push(const std::string& text) {
  if (stopped_)
    return {};
  held_ += text;
  size_t first = std::string::npos;
  for (const auto& s : stops_)
    first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    auto out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& s : stops_)
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  auto out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string stop_matcher::flush() {
  auto out = stopped_ ? std::string() : held_;
  held_.clear();
  return out;
}

float seeded_uniform(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // 24 bits: exact in float, < 1
}

}  // namespace tessera::actors
