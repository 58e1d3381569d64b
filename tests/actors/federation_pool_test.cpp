// The one pool's rules without a network: the epoch rule (epoch_guard), the
// id ranges of pooled nodes, and the pool front (federation_pool.hpp) driven
// with scripted leaders in one actor system: it answers routes with "no
// federation leader reachable" while there is none, reports the node's
// workers and subscribers to each new leader, and refuses a route stamped
// with an epoch older than one it has seen.
#include <chrono>
#include <set>

#include <catch2/catch.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/federation_pool.hpp"
#include "actors/federation_protocol.hpp"
#include "actors/messages.hpp"
#include "actors/plan_epoch.hpp"
#include "actors/pool_context.hpp"

using namespace tessera::actors;
using namespace std::chrono_literals;

TEST_CASE("the epoch rule: nothing older than the highest epoch seen is admitted") {
  epoch_guard g;
  std::string why;
  CHECK(g.admit(0, why));  // outside a pool everything is epoch 0, always admitted
  CHECK(g.admit(0, why));
  CHECK(g.admit(3, why));
  CHECK(g.highest() == 3);
  CHECK(g.admit(3, why));  // the same epoch again: the same leader's plan
  CHECK_FALSE(g.admit(2, why));
  CHECK(why == "epoch 2 is older than epoch 3 seen here");
  CHECK(g.highest() == 3);  // a refusal does not lower it
  CHECK_FALSE(g.admit(0, why));
  CHECK(g.admit(7, why));
  CHECK_FALSE(g.admit(6, why));
  CHECK(why == "epoch 6 is older than epoch 7 seen here");
}

TEST_CASE("pooled nodes count ids in ranges of their own, exact as JavaScript numbers") {
  std::set<uint64_t> bases;
  for (auto id : {"a", "b", "c", "node-1", "node-2", "node-3"}) {
    auto base = pool_id_base(id);
    CHECK(base % (uint64_t{1} << 40) == 0);
    CHECK(base > 0);
    CHECK(base + (uint64_t{1} << 40) <= (uint64_t{1} << 53));
    CHECK(pool_id_base(id) == base);  // deterministic
    bases.insert(base);
  }
  CHECK(bases.size() == 6);
  // A run starts inside the range, and two runs a millisecond apart start 2^20 ids apart.
  CHECK(pool_run_offset(0) == 0);
  CHECK(pool_run_offset(1) == uint64_t{1} << 20);
  CHECK(pool_run_offset(1000) - pool_run_offset(999) == uint64_t{1} << 20);
  CHECK(pool_run_offset(~uint64_t{0}) < (uint64_t{1} << 40));
}

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

// A leader's planner as the pool front sees it: records what it hears and
// answers routes with `epoch`.
struct fake_planner_state {
  std::vector<uint64_t> joined;
  size_t subscribed = 0;
  static inline const char* name = "fake_planner";
};

caf::behavior fake_planner(caf::stateful_actor<fake_planner_state>* self, uint64_t epoch, uint32_t version) {
  return {
      [=](worker_joined& j) { self->state.joined.push_back(j.info.worker_id); },
      [=](subscribe_atom, request_hdl&) { ++self->state.subscribed; },
      [=](get_route_atom) {
        route_reply r;
        r.ready = true;
        r.path.plan_version = version;
        r.path.epoch = epoch;
        return r;
      },
      [=](pool_status_atom) { return std::string("{}"); },
      [=](caf::atom_value) { return std::make_tuple(self->state.joined, static_cast<uint64_t>(self->state.subscribed)); },
  };
}

route_reply ask_route(caf::scoped_actor& self, const planner_hdl& front) {
  route_reply out;
  self->request(front, 5s, get_route_atom::value)
      .receive([&](route_reply& r) { out = std::move(r); }, [&](caf::error& e) { FAIL(self->system().render(e)); });
  return out;
}

// What a fake planner heard: worker ids joined, subscriptions.
std::pair<std::vector<uint64_t>, uint64_t> heard(caf::scoped_actor& self, const caf::actor& planner) {
  std::pair<std::vector<uint64_t>, uint64_t> out;
  self->request(planner, 5s, caf::atom("heard"))
      .receive([&](std::vector<uint64_t>& joined, uint64_t subs) { out = {joined, subs}; },
               [&](caf::error& e) { FAIL(self->system().render(e)); });
  return out;
}

// Polls until `pred` holds (bounded): the front forwards asynchronously.
template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("the pool front follows the leader and refuses routes of an older epoch") {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto ctx = std::make_shared<pool_context>("b");
  auto front = spawn_pool_front(sys, ctx, 50);

  // No leader: routes wait with the reason the client is told.
  auto r0 = ask_route(self, front.planner);
  CHECK_FALSE(r0.ready);
  CHECK(r0.reason == "no federation leader reachable");

  // A worker joins and a request subscribes before any leader is known.
  auto worker = caf::actor_cast<worker_hdl>(sys.spawn([]() -> caf::behavior { return {[](int) {}}; }));
  worker_joined j;
  j.info.worker_id = ctx->id_base() + 1;
  j.info.node = "b";
  j.worker = worker;
  self->send(front.planner, j);
  auto request = caf::actor_cast<request_hdl>(sys.spawn([]() -> caf::behavior { return {[](int) {}}; }));
  self->send(front.planner, subscribe_atom::value, request);

  // Leader a at epoch 4: it hears the worker and the subscription, and its routes pass.
  auto a = sys.spawn(fake_planner, uint64_t{4}, uint32_t{1});
  self->send(front.actor, pool_leader_atom::value, std::string("a"), uint64_t{4}, a);
  CHECK(eventually([&] { return heard(self, a) == std::make_pair(std::vector<uint64_t>{j.info.worker_id}, uint64_t{1}); }));
  auto r1 = ask_route(self, front.planner);
  CHECK(r1.ready);
  CHECK(r1.path.epoch == 4);
  CHECK(eventually([&] { return ctx->leader_status() == "{}"; }));  // the pool's status is fetched from the leader

  // Leader c takes over at epoch 6: the worker and the subscriber are reported to it again.
  auto c = sys.spawn(fake_planner, uint64_t{6}, uint32_t{1});
  self->send(front.actor, pool_leader_atom::value, std::string("c"), uint64_t{6}, c);
  CHECK(eventually([&] { return heard(self, c) == std::make_pair(std::vector<uint64_t>{j.info.worker_id}, uint64_t{1}); }));
  CHECK(ask_route(self, front.planner).path.epoch == 6);

  // A deposed leader (epoch 4) announced again: its routes are refused, naming both epochs.
  self->send(front.actor, pool_leader_atom::value, std::string("a"), uint64_t{4}, a);
  CHECK(eventually([&] {
    auto r = ask_route(self, front.planner);
    return !r.ready && r.reason == "stale plan from a: epoch 4 is older than epoch 6 seen here";
  }));

  // The leader is lost: routes wait again, and the pool's status is cleared.
  self->send(front.actor, pool_leader_atom::value, std::string(), uint64_t{6}, caf::actor());
  CHECK(eventually([&] { return ask_route(self, front.planner).reason == "no federation leader reachable"; }));
  CHECK(ctx->leader_status().empty());

  for (auto& x : {front.actor, caf::actor_cast<caf::actor>(worker), caf::actor_cast<caf::actor>(request), a, c})
    self->send_exit(x, caf::exit_reason::user_shutdown);
}
