// The planner actor when a worker of the serving plan leaves and other
// workers' messages are still on their way: a Loaded from another worker (a
// standby finishing its load) must not bring the broken plan back to serving,
// and every route announced afterwards goes through workers that are here.
#include "planner_test_support.hpp"

TEST_CASE_METHOD(migration_fixture, "a standby's Loaded arriving after a serving worker left does not serve the broken plan") {
  // An equal worker joins: the plan stays and the newcomer is told to stand by
  // with worker 1's shard; it holds its Loaded back for now.
  w2 = std::make_unique<caf::scoped_actor>(sys);
  (*w2)->send(planner, worker_joined{{2, "spare", "node-cpu", 1ull << 30, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(*w2)});
  auto standby = next_of<assign_shard>(*w2);
  REQUIRE(standby);
  CHECK(standby->standby);
  CHECK(standby->shard_id == v1->hops[0].shard_id);

  // Worker 1 goes (its down_msg is in the planner's mailbox when reset()
  // returns) and the standby's Loaded follows at once, ahead of the re-plan the
  // down_msg schedules. The plan of worker 1 must not serve again.
  w1.reset();
  (*w2)->send(planner, shard_loaded{2, standby->shard_id, true, "", 1.0, 1.0});

  // The re-plan hands worker 1's range to worker 2 (which holds its shard).
  auto takeover = load_assigned(*w2, planner, 2);
  REQUIRE(takeover);
  CHECK(takeover->shard_id == standby->shard_id);
  auto next = wait_plan(self);
  REQUIRE(next);
  CHECK(next->plan_version > v1->plan_version);
  REQUIRE(next->hops.size() == 1);
  CHECK(next->hops[0].worker_id == 2);
  auto r = ask(self, planner);
  REQUIRE(r.ready);
  REQUIRE(r.path.hops.size() == 1);
  CHECK(r.path.hops[0].worker_id == 2);
}
