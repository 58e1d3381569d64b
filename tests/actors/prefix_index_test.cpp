// The prefix cache index (actors/prefix_index.hpp): block hash chain matches,
// the minimum over a route's stages, salts, evictions, worker loss and
// re-plans, fills in flight, and random instances against a brute-force oracle.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "actors/prefix_index.hpp"

using namespace tessera::actors;

namespace {

std::vector<int64_t> seq_of(std::initializer_list<int64_t> head, size_t n, int64_t fill = 7) {
  std::vector<int64_t> out(head);
  while (out.size() < n)
    out.push_back(fill + static_cast<int64_t>(out.size()));
  return out;
}

const cache_stage a{1, "s0", 1}, b{2, "s1", 1}, c{3, "s2", 1};

}  // namespace

TEST_CASE("a prefix held on every stage of a route is matched in whole blocks, capped by the positions asked for") {
  prefix_index idx(4);
  auto kept = seq_of({1, 2, 3}, 10);  // 2 whole blocks
  idx.insert(100, "", kept, {a, b});
  auto ask = kept;
  ask.resize(9);
  ask.push_back(55);
  auto m = idx.lookup("", ask, {a, b}, 9);
  CHECK(m.positions == 8);
  CHECK(m.sources == std::vector<uint64_t>{100, 100});
  CHECK_FALSE(m.wait_for);
  CHECK(idx.lookup("", ask, {a, b}, 7).positions == 4);  // a prompt of 8 may fork at most 7 positions
  CHECK(idx.lookup("", ask, {a, b}, 3).positions == 0);
  auto other = ask;
  other[5] = 999;  // differs inside the second block
  CHECK(idx.lookup("", other, {a, b}, 9).positions == 4);
  other[0] = 999;
  CHECK(idx.lookup("", other, {a, b}, 9).positions == 0);
  auto st = idx.stats();
  CHECK(st.lookups == 5);
  CHECK(st.hits == 3);
  CHECK(st.cached_tokens == 8 + 4 + 4);
}

TEST_CASE("the usable prefix is the minimum over the route's stages, each stage forking from its own source") {
  prefix_index idx(2);
  auto tokens = seq_of({5, 6, 7, 8, 9, 10}, 12);
  auto shorter = std::vector<int64_t>(tokens.begin(), tokens.begin() + 4);
  idx.insert(10, "", tokens, {a});      // stage a holds 6 blocks
  idx.insert(11, "", shorter, {a, b});  // stage b only 2
  auto m = idx.lookup("", tokens, {a, b}, 11);
  CHECK(m.positions == 4);
  REQUIRE(m.sources.size() == 2);
  CHECK(m.sources[1] == 11);
  CHECK((m.sources[0] == 10 || m.sources[0] == 11));
  CHECK(idx.lookup("", tokens, {a, b, c}, 11).positions == 0);  // stage c holds nothing
  CHECK(idx.lookup("", tokens, {a}, 11).positions == 10);
}

TEST_CASE("entries under another salt never match, even for the same tokens") {
  prefix_index idx(4);
  auto t = seq_of({1}, 16);
  idx.insert(1, "tenant-a", t, {a});
  CHECK(idx.lookup("tenant-a", t, {a}, 15).positions == 12);
  CHECK(idx.lookup("tenant-b", t, {a}, 15).positions == 0);
  CHECK(idx.lookup("", t, {a}, 15).positions == 0);
}

TEST_CASE("a sequence evicted on one worker stops counting there and stays on the others") {
  prefix_index idx(4);
  auto t = seq_of({1}, 16);
  idx.insert(1, "", t, {a, b});
  idx.erase_on_worker(1, b.worker_id);
  CHECK(idx.lookup("", t, {a, b}, 16).positions == 0);
  CHECK(idx.lookup("", t, {a}, 16).positions == 16);
  CHECK(idx.sequences_on(b).empty());
  idx.erase_on_worker(1, a.worker_id);
  CHECK(idx.stats().entries == 0);
}

TEST_CASE("a worker that leaves takes its entries along and the lost prefixes come back hottest first") {
  prefix_index idx(4);
  auto cold = seq_of({1}, 8), hot = seq_of({2}, 12), elsewhere = seq_of({3}, 8);
  idx.insert(1, "", cold, {a, b});
  idx.insert(2, "k", hot, {a, b});
  idx.insert(3, "", elsewhere, {c});
  for (int i = 0; i < 3; ++i)
    REQUIRE(idx.lookup("k", hot, {a, b}, 12).positions == 12);
  REQUIRE(idx.lookup("", cold, {a, b}, 8).positions == 8);
  auto lost = idx.drop_worker(b.worker_id);
  REQUIRE(lost.size() == 2);
  CHECK(lost[0].tokens == hot);
  CHECK(lost[0].salt == "k");
  CHECK(lost[0].score == 3 * 12);
  CHECK(lost[1].tokens == cold);
  CHECK(idx.lookup("k", hot, {a, b}, 12).positions == 0);
  CHECK(idx.lookup("", elsewhere, {c}, 8).positions == 8);
  CHECK(idx.worker_stats()[b.worker_id].entries == 0);
  CHECK(idx.worker_stats()[a.worker_id].entries == 2);
}

TEST_CASE("lost prefixes nested in a longer one fold into it: a chat's latest turn carries its earlier turns' hits") {
  prefix_index idx(4);
  auto turn0 = seq_of({5}, 8);
  auto turn1 = turn0;
  turn1.insert(turn1.end(), {40, 41, 42, 43});
  auto turn2 = turn1;
  turn2.insert(turn2.end(), {50, 51, 52, 53});
  auto other = seq_of({6}, 12);
  idx.insert(1, "", turn0, {a, b});
  REQUIRE(idx.lookup("", turn1, {a, b}, 12).positions == 8);  // turn 1 forks turn 0
  idx.insert(2, "", turn1, {a, b});
  REQUIRE(idx.lookup("", turn2, {a, b}, 16).positions == 12);  // turn 2 forks turn 1
  idx.insert(3, "", turn2, {a, b});                            // the latest turn: never hit yet
  idx.insert(4, "", other, {a, b});
  REQUIRE(idx.lookup("", other, {a, b}, 12).positions == 12);  // one hit on an unrelated prefix
  auto lost = idx.drop_worker(a.worker_id);
  REQUIRE(lost.size() == 2);
  CHECK(lost[0].tokens == turn2);
  CHECK(lost[0].score == 1 * 8 + 1 * 12);  // turn 0's and turn 1's hits, folded
  CHECK(lost[1].tokens == other);
  CHECK(lost[1].score == 12);
}

TEST_CASE("folding keeps salts apart and ranks equal scores by the latest use") {
  auto t = seq_of({1}, 8);
  auto longer = t;
  longer.insert(longer.end(), {9, 9, 9, 9});
  std::vector<lost_prefix> lost{{"x", t, 0, 5}, {"y", longer, 0, 3}, {"y", seq_of({2}, 8), 0, 9}};
  auto out = fold_lost_prefixes(lost);
  REQUIRE(out.size() == 3);  // t under salt "x" is not inside salt "y"'s longer prefix
  CHECK(out[0].last_used == 9);
  CHECK(out[1].last_used == 5);
  CHECK(out[2].last_used == 3);
  lost.push_back({"x", longer, 2, 1});
  out = fold_lost_prefixes(lost);
  REQUIRE(out.size() == 3);
  CHECK(out[0].salt == "x");
  CHECK(out[0].tokens == longer);
  CHECK(out[0].score == 2);
  CHECK(out[0].last_used == 5);
}

TEST_CASE("after a re-plan only entries on serving stages remain: another shard or load epoch holds none") {
  prefix_index idx(4);
  auto t = seq_of({1}, 8);
  idx.insert(1, "", t, {a, b});
  cache_stage b_reloaded{b.worker_id, b.shard_id, b.load_epoch + 1};
  auto lost = idx.keep_only({a, b_reloaded});
  CHECK(lost.size() == 1);
  CHECK(idx.lookup("", t, {a, b_reloaded}, 8).positions == 0);
  CHECK(idx.lookup("", t, {a}, 8).positions == 8);
  CHECK(idx.keep_only({a, b_reloaded}).empty());
}

TEST_CASE("a lookup that shares more with a fill in flight waits for it; after the fill's insert it forks") {
  prefix_index idx(4);
  auto prompt = seq_of({1}, 20);
  idx.begin_fill(7, "", prompt, {a, b});
  auto second = prompt;
  second.resize(17);
  second.push_back(42);
  auto m = idx.lookup("", second, {a, b}, 17);
  REQUIRE(m.wait_for);
  CHECK(*m.wait_for == 7);
  CHECK(idx.lookup("x", second, {a, b}, 17).wait_for == std::nullopt);  // another salt: no sharing
  CHECK(idx.lookup("", second, {a}, 17).wait_for == std::nullopt);      // another route
  idx.insert(7, "", prompt, {a, b});
  m = idx.lookup("", second, {a, b}, 17);
  CHECK_FALSE(m.wait_for);
  CHECK(m.positions == 16);
  idx.begin_fill(8, "", seq_of({9}, 20), {a, b});
  idx.end_fill(8);
  CHECK_FALSE(idx.lookup("", seq_of({9}, 20), {a, b}, 19).wait_for);
  CHECK(idx.stats().waits == 1);
}

TEST_CASE("a released sequence is forgotten, and a re-insert replaces what was known of it") {
  prefix_index idx(2);
  auto t = seq_of({1}, 8);
  idx.insert(1, "", t, {a});
  idx.insert(1, "", std::vector<int64_t>(t.begin(), t.begin() + 4), {a});
  CHECK(idx.lookup("", t, {a}, 8).positions == 4);
  idx.erase(1);
  CHECK(idx.lookup("", t, {a}, 8).positions == 0);
  CHECK(idx.stats().entries == 0);
  idx.insert(2, "", {1}, {a});  // less than a block: nothing to share
  CHECK(idx.stats().entries == 0);
}

TEST_CASE("a block size of 0 is refused, naming the value") {
  CHECK_THROWS_WITH(prefix_index(0), Catch::Contains("block size 0"));
}

TEST_CASE("random sequences on random stages: every lookup equals the brute-force longest common prefix") {
  std::mt19937 rng(13);
  for (int round = 0; round < 60; ++round) {
    uint32_t block = 1 + rng() % 4;
    prefix_index idx(block);
    std::vector<cache_stage> stages{a, b, c};
    struct kept {
      std::vector<int64_t> tokens;
      std::vector<cache_stage> on;
    };
    std::vector<kept> all;
    for (uint64_t seq = 1; seq <= 8; ++seq) {
      kept k;
      size_t len = rng() % 14;
      for (size_t i = 0; i < len; ++i)
        k.tokens.push_back(rng() % 3);  // tiny vocabulary: many shared prefixes
      for (auto& s : stages)
        if (rng() % 2)
          k.on.push_back(s);
      idx.insert(seq, "", k.tokens, k.on);
      all.push_back(k);
    }
    for (int q = 0; q < 20; ++q) {
      std::vector<int64_t> ask;
      size_t len = 1 + rng() % 14;
      for (size_t i = 0; i < len; ++i)
        ask.push_back(rng() % 3);
      std::vector<cache_stage> route;
      for (auto& s : stages)
        if (rng() % 2)
          route.push_back(s);
      auto max_pos = static_cast<uint32_t>(len - 1);
      size_t expect = route.empty() ? 0 : max_pos / block;
      for (auto& s : route) {
        size_t best = 0;
        for (auto& k : all)
          if (std::find(k.on.begin(), k.on.end(), s) != k.on.end()) {
            size_t n = 0;
            while (n < k.tokens.size() && n < ask.size() && k.tokens[n] == ask[n])
              ++n;
            best = std::max(best, n / block);
          }
        expect = std::min(expect, best);
      }
      auto m = idx.lookup("", ask, route, max_pos);
      INFO("round " << round << " query " << q << " block " << block);
      REQUIRE(m.positions == expect * block);
      for (size_t i = 0; i < m.sources.size(); ++i) {  // each source really holds the prefix on its stage
        const auto& k = all[m.sources[i] - 1];
        CHECK(std::find(k.on.begin(), k.on.end(), route[i]) != k.on.end());
        CHECK(std::equal(ask.begin(), ask.begin() + m.positions, k.tokens.begin()));
      }
    }
  }
}

TEST_CASE("a stage's KV budget is the worker's memory less files and scratch, capped by the config") {
  CHECK(stage_kv_budget(1000, 300, 200, 0) == 500);
  CHECK(stage_kv_budget(1000, 300, 200, 100) == 100);
  CHECK(stage_kv_budget(1000, 300, 200, 900) == 500);
  CHECK(stage_kv_budget(400, 300, 200, 0) == 1);  // never 0: on the wire that means "decide yourself"
}
