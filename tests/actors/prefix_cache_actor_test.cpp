// The prefix cache actor with a fake planner and fake worker actors: a lookup
// that shares a prefix with a fill in flight is answered only after that
// fill's insert, then forks it; a worker that goes down takes its entries
// along; an eviction forgets the entry on that worker.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/prefix_cache.hpp"

using namespace tessera::actors;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

// A worker that does nothing: it only has to exist (and go down).
caf::behavior idle_worker(caf::event_based_actor*) {
  return {[](stage_step&) {}};
}

struct cache_actor_fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::actor w1 = sys.spawn(idle_worker), w2 = sys.spawn(idle_worker);
  route path;
  caf::actor planner;
  cache_hdl cache;

  cache_actor_fixture() {
    path.plan_version = 1;
    path.hops.push_back({caf::actor_cast<worker_hdl>(w1), 1, "s0", 0, 2});
    path.hops.push_back({caf::actor_cast<worker_hdl>(w2), 2, "s1", 2, 4});
    auto r = path;
    planner = sys.spawn([r](caf::event_based_actor*) -> caf::behavior {
      return {[r](get_route_atom) { return route_reply{true, r, ""}; }};
    });
    prefix_cache_options o;
    o.config.cache_block_tokens = 4;
    o.planner = caf::actor_cast<planner_hdl>(planner);
    cache = spawn_prefix_cache_actor(sys, o);
  }
  ~cache_actor_fixture() {
    for (auto& a : {w1, w2, planner})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    self->send_exit(cache, caf::exit_reason::user_shutdown);
  }

  std::vector<int64_t> tokens(size_t n, int64_t first = 1) {
    std::vector<int64_t> t;
    for (size_t i = 0; i < n; ++i)
      t.push_back(first + static_cast<int64_t>(i));
    return t;
  }
  cache_lookup lookup(uint64_t id, const std::vector<int64_t>& t) {
    return {id, "", t, static_cast<uint32_t>(t.size() - 1), path};
  }
  // A lookup; unless `fill`, the asking request then ends without keeping
  // anything (so later lookups do not wait for its prefill).
  cache_match ask(uint64_t id, const std::vector<int64_t>& t, bool fill = false) {
    cache_match out;
    self->request(cache, std::chrono::seconds(5), lookup(id, t))
        .receive([&](cache_match& m) { out = m; }, [](caf::error&) { FAIL("no answer"); });
    if (!fill)
      self->send(cache, cache_forget{id, 0});
    return out;
  }
};

}  // namespace

TEST_CASE_METHOD(cache_actor_fixture, "a lookup sharing a fill in flight is answered after the fill's insert, and forks it") {
  auto prompt = tokens(13);
  CHECK(ask(10, prompt, true).positions == 0);  // the first computes everything: a fill of 13 tokens
  auto second = tokens(13);
  second.back() = 99;
  // the second shares 12 tokens (3 blocks) with the fill. Had it been answered
  // at once, the index (empty until the insert behind it) would have said 0.
  auto pending = self->request(cache, std::chrono::seconds(10), lookup(11, second));
  self->send(cache, cache_insert{10, "", prompt, path});
  cache_match m;
  pending.receive([&](cache_match& got) { m = got; }, [](caf::error&) { FAIL("no answer after the insert"); });
  CHECK(m.positions == 12);
  CHECK(m.sources == std::vector<uint64_t>{10, 10});
}

TEST_CASE_METHOD(cache_actor_fixture, "a worker that goes down takes its entries; an eviction forgets one worker's copy") {
  auto t = tokens(9);
  ask(20, t, true);
  self->send(cache, cache_insert{20, "", t, path});
  CHECK(ask(21, t).positions == 8);
  self->send(cache, cache_forget{20, 2});  // evicted on worker 2: no stage-wide prefix left
  CHECK(ask(22, t).positions == 0);
  self->send(cache, cache_insert{20, "", t, path});
  CHECK(ask(23, t).positions == 8);
  self->send_exit(w2, caf::exit_reason::user_shutdown);
  // the down_msg reaches the cache actor asynchronously: ask until it has dropped the entries
  uint32_t positions = 8;
  for (int i = 0; i < 100 && positions != 0; ++i) {
    positions = ask(static_cast<uint64_t>(30 + i), t).positions;
    if (positions != 0)
      self->receive(caf::after(std::chrono::milliseconds(20)) >> [] {});
  }
  CHECK(positions == 0);
}
