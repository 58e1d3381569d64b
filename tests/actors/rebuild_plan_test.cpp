// plan_rebuild: which hops of a new route rebuild their KV, and from what.
#include <catch2/catch.hpp>

#include <set>

#include "actors/rebuild_plan.hpp"

using namespace tessera::actors;

namespace {

// A route of `n` hops on workers 1..n, each with its own shard, layers 4 apiece.
std::vector<hop_key> route_of(uint32_t n) {
  std::vector<hop_key> r;
  for (uint32_t i = 0; i < n; ++i)
    r.push_back({i + 1, "shard" + std::to_string(i), 1, 4 * i});
  return r;
}

// Inputs are kept at exactly these boundaries (layer_begin values).
std::function<bool(uint32_t)> kept_at(std::set<uint32_t> layers) {
  return [layers](uint32_t layer) { return layers.count(layer) > 0; };
}

std::vector<rebuild_run> runs(std::initializer_list<rebuild_run> r) { return r; }

}  // namespace

TEST_CASE("a hop keeps its KV only when worker, shard and load epoch all match") {
  hop_key a{1, "s", 2, 0};
  CHECK(same_kv(a, hop_key{1, "s", 2, 8}));  // where its inputs come from does not matter
  CHECK_FALSE(same_kv(a, hop_key{9, "s", 2, 0}));
  CHECK_FALSE(same_kv(a, hop_key{1, "t", 2, 0}));
  CHECK_FALSE(same_kv(a, hop_key{1, "s", 3, 0}));
  CHECK(same_kv(route_of(3), route_of(3)));
  CHECK_FALSE(same_kv(route_of(3), route_of(2)));
}

TEST_CASE("an unchanged route needs no run: the caller re-runs from the tokens") {
  CHECK(plan_rebuild(route_of(3), route_of(3), kept_at({4, 8})).empty());
}

TEST_CASE("a replaced last stage is rebuilt alone from the inputs kept at its boundary") {
  auto now = route_of(3);
  now[2].worker_id = 7;
  CHECK(plan_rebuild(now, route_of(3), kept_at({4, 8})) == runs({{2, 3}}));
}

TEST_CASE("a replaced middle stage is rebuilt alone; the stages after it keep their KV") {
  auto now = route_of(4);
  now[1].load_epoch = 2;  // same worker, but it reloaded its shard: KV gone
  CHECK(plan_rebuild(now, route_of(4), kept_at({4})) == runs({{1, 2}}));
}

TEST_CASE("a changed stage whose inputs are not kept means re-running everything from the tokens") {
  auto now = route_of(3);
  now[1].worker_id = 7;
  CHECK(plan_rebuild(now, route_of(3), kept_at({})).empty());
}

TEST_CASE("two separate runs are rebuilt separately when each can be fed") {
  auto now = route_of(3);
  now[0].worker_id = 7;  // fed from the tokens
  now[2].worker_id = 8;  // fed from kept inputs
  CHECK(plan_rebuild(now, route_of(3), kept_at({8})) == runs({{0, 1}, {2, 3}}));
}

TEST_CASE("when a later run cannot be fed, one run goes from the first changed hop to the end") {
  auto now = route_of(4);
  now[1].worker_id = 7;
  now[3].worker_id = 8;
  CHECK(plan_rebuild(now, route_of(4), kept_at({4})) == runs({{1, 4}}));
}

TEST_CASE("a single run over the whole route is left to the plain re-run from the tokens") {
  auto now = route_of(3);
  for (auto& h : now)
    h.shard_id += "'";
  CHECK(plan_rebuild(now, route_of(3), kept_at({4, 8})).empty());
  now = route_of(3);
  now[0].worker_id = 7;
  now[2].worker_id = 8;
  CHECK(plan_rebuild(now, route_of(3), kept_at({})).empty());  // {0,1} fed, {2,3} not: one run {0,3}
}

TEST_CASE("hops a longer new route adds count as changed") {
  auto now = route_of(4);
  CHECK(plan_rebuild(now, route_of(3), kept_at({12})) == runs({{3, 4}}));
  CHECK(plan_rebuild(now, route_of(3), kept_at({})).empty());
}
