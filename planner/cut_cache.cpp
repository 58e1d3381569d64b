// cuts_to_delete(): in-use cuts stay; the rest stay most recent first within the budget.
#include "planner/cut_cache.hpp"

#include <algorithm>

namespace tessera::planner {

std::vector<std::string> cuts_to_delete(const std::vector<cached_cut>& on_disk, const std::vector<std::string>& in_use,
                                        uint64_t budget_bytes) {
  auto used = [&](const cached_cut& c) { return std::find(in_use.begin(), in_use.end(), c.key) != in_use.end(); };
  uint64_t kept = 0;
  std::vector<const cached_cut*> others;
  for (const auto& c : on_disk) {
    if (used(c))
      kept += c.bytes;
    else
      others.push_back(&c);
  }
  std::sort(others.begin(), others.end(), [](const cached_cut* a, const cached_cut* b) {
    return a->last_used != b->last_used ? a->last_used > b->last_used : a->key < b->key;
  });
  std::vector<std::string> out;
  bool full = false;
  for (const cached_cut* c : others) {
    full = full || kept > budget_bytes || c->bytes > budget_bytes - kept;
    if (full)
      out.push_back(c->key);
    else
      kept += c->bytes;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tessera::planner
