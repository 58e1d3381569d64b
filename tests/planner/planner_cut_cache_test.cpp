// Unit and property tests: which cached shard cuts are deleted under a disk budget.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "planner/cut_cache.hpp"

using namespace tessera::planner;

TEST_CASE("cuts in use are kept even over the budget; the others go, oldest first", "[planner][cuts]") {
  const std::vector<cached_cut> disk = {{"a", 100, 1}, {"b", 100, 5}, {"c", 100, 3}, {"d", 500, 2}};
  CHECK(cuts_to_delete(disk, {"d"}, 0) == std::vector<std::string>{"a", "b", "c"});
  CHECK(cuts_to_delete(disk, {"d"}, 700) == std::vector<std::string>{"a"});  // b, c fit; a would not
  CHECK(cuts_to_delete(disk, {"d"}, 800).empty());
  CHECK(cuts_to_delete(disk, {}, 250) == std::vector<std::string>{"a", "d"});  // b, c fit; d would not
  CHECK(cuts_to_delete(disk, {"a", "b", "c", "d"}, 0).empty());
  CHECK(cuts_to_delete({}, {"x"}, 0).empty());
}

TEST_CASE("an older small cut does not outlive a newer one that did not fit", "[planner][cuts]") {
  const std::vector<cached_cut> disk = {{"new", 100, 9}, {"big", 1000, 8}, {"small", 10, 7}};
  CHECK(cuts_to_delete(disk, {}, 200) == std::vector<std::string>{"big", "small"});
}

TEST_CASE("equal last-use times are ordered by key", "[planner][cuts]") {
  const std::vector<cached_cut> disk = {{"b", 100, 1}, {"a", 100, 1}};
  CHECK(cuts_to_delete(disk, {}, 150) == std::vector<std::string>{"b"});
}

TEST_CASE("on random caches: in-use cuts stay, the kept ones fit the budget, are the most recent, and the next one "
          "would not fit",
          "[planner][cuts][property]") {
  std::mt19937_64 rng(5050);
  auto pick = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  int deleted_some = 0, kept_some = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    std::vector<cached_cut> disk;
    std::vector<std::string> in_use;
    const size_t count = pick(0, 12);
    for (size_t i = 0; i < count; ++i) {
      disk.push_back({"cut" + std::to_string(i), pick(0, 1000), static_cast<int64_t>(pick(0, 20))});
      if (pick(0, 3) == 0) in_use.push_back(disk.back().key);
    }
    const uint64_t budget = pick(0, 4000);
    const auto out = cuts_to_delete(disk, in_use, budget);
    INFO("trial " << trial);
    REQUIRE(std::is_sorted(out.begin(), out.end()));
    const std::set<std::string> gone(out.begin(), out.end());
    REQUIRE(gone.size() == out.size());
    auto used = [&](const cached_cut& c) { return std::count(in_use.begin(), in_use.end(), c.key) > 0; };
    auto newer = [](const cached_cut& a, const cached_cut& b) {
      return a.last_used != b.last_used ? a.last_used > b.last_used : a.key < b.key;
    };
    uint64_t kept = 0;
    bool other_kept = false;
    for (const auto& c : disk) {
      const bool deleted = gone.count(c.key) > 0;
      if (used(c)) CHECK_FALSE(deleted);
      if (!deleted) kept += c.bytes;
      other_kept = other_kept || (!deleted && !used(c));
      for (const auto& d : disk)  // a kept cut that is not in use is newer than every deleted one
        if (!deleted && !used(c) && gone.count(d.key)) CHECK(newer(c, d));
    }
    if (other_kept) CHECK(kept <= budget);
    const cached_cut* newest_gone = nullptr;
    for (const auto& c : disk)
      if (gone.count(c.key) && (!newest_gone || newer(c, *newest_gone))) newest_gone = &c;
    if (newest_gone) CHECK(kept + newest_gone->bytes > budget);
    deleted_some += !out.empty();
    kept_some += other_kept;
  }
  CHECK(deleted_some > 1000);
  CHECK(kept_some > 1000);
}
