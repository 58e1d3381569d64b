// The planner actor with fake workers (scoped actors) on the tiny preset: it
// waits for the expected workers, plans, cuts and assigns shards, serves a
// route only once every stage is loaded, re-plans in place when a serving
// worker goes, says why when it cannot serve, and migrates to a better plan
// in the background (idle workers load first, requests park, then the switch),
// keeps answering routes while the shard maker cuts, and deletes old cuts.
#include "planner_test_support.hpp"

TEST_CASE("the planner plans over joined workers, serves a route once loaded and re-plans in place on loss") {
  temp_dir tmp;
  auto model_dir = tiny_model(tmp.path);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto board = std::make_shared<status_board>();
  auto shards = std::make_shared<shard_registry>();
  auto planner = spawn_planner_actor(sys, planner_config(model_dir, tmp.path, 2), board, shards);
  self->send(planner, subscribe_atom::value, caf::actor_cast<request_hdl>(self));

  auto before = ask(self, planner);
  CHECK_FALSE(before.ready);
  CHECK_FALSE(before.reason.empty());

  auto w1 = std::make_unique<caf::scoped_actor>(sys);
  auto w2 = std::make_unique<caf::scoped_actor>(sys);
  worker_info i1{1, "one", "node-cpu", 1ull << 30, 1e9, 1, {}};
  worker_info i2{2, "two", "node-cpu", 512ull << 20, 1e9, 1, {}};
  (*w1)->send(planner, worker_joined{i1, caf::actor_cast<worker_hdl>(*w1)});
  (*w2)->send(planner, worker_joined{i2, caf::actor_cast<worker_hdl>(*w2)});

  // Whichever workers the plan uses get an Assign; until they answer, no route.
  auto a1 = load_assigned(*w1, planner, 1, std::chrono::seconds(20));
  auto a2 = load_assigned(*w2, planner, 2, std::chrono::milliseconds(a1 ? 500 : 20000));
  REQUIRE((a1 || a2));
  REQUIRE(wait_plan(self));
  auto r = ask(self, planner);
  REQUIRE(r.ready);
  REQUIRE_FALSE(r.path.hops.empty());
  CHECK(r.path.hops.front().layer_begin == 0);
  CHECK(r.path.hops.back().layer_end == 4);
  for (size_t i = 1; i < r.path.hops.size(); ++i)
    CHECK(r.path.hops[i].layer_begin == r.path.hops[i - 1].layer_end);
  auto assigned = a1 ? *a1 : *a2;
  REQUIRE_FALSE(assigned.files.empty());
  CHECK(shards->find(assigned.shard_id, assigned.files[0].name).has_value());
  auto status = status_of(*board);
  CHECK(status["ready"] == true);
  CHECK(status["workers"].size() == 2);

  // A one-stage plan on worker 1 (the bigger one, if it used one worker): drop it.
  if (r.path.hops.size() == 1 && r.path.hops[0].worker_id == 1) {
    auto old_version = r.path.plan_version;
    w1.reset();  // worker 1 goes away: the planner sees a down_msg
    auto moved = load_assigned(*w2, planner, 2);
    REQUIRE(moved);
    CHECK(moved->layer_begin == 0);
    CHECK(moved->layer_end == 4);
    REQUIRE(wait_plan(self));
    r = ask(self, planner);
    REQUIRE(r.ready);
    CHECK(r.path.plan_version > old_version);
    CHECK(r.path.hops[0].worker_id == 2);
    auto replans = status_of(*board)["replans"];
    CHECK(replans.back().get<std::string>().find("worker 1 left") != std::string::npos);
  }
  w1.reset();
  w2.reset();
  for (int i = 0; i < 100 && (r = ask(self, planner)).reason.find("no workers") == std::string::npos; ++i)
    self->receive(caf::after(std::chrono::milliseconds(20)) >> [] {});
  CHECK_FALSE(r.ready);
  CHECK(r.reason.find("no workers") != std::string::npos);
  self->send_exit(planner, caf::exit_reason::user_shutdown);
}

TEST_CASE("a pool too small for the model is reported with what it lacks") {
  temp_dir tmp;
  auto model_dir = tiny_model(tmp.path);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto planner = spawn_planner_actor(sys, planner_config(model_dir, tmp.path, 0), std::make_shared<status_board>(),
                                     std::make_shared<shard_registry>());
  caf::scoped_actor w(sys);
  w->send(planner, worker_joined{{1, "tiny-worker", "wasm", 1 << 20, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(w)});
  route_reply r;
  for (int i = 0; i < 100; ++i) {
    r = ask(self, planner);
    if (r.reason.find("cannot hold") != std::string::npos)
      break;
    self->receive(caf::after(std::chrono::milliseconds(20)) >> [] {});
  }
  CHECK_FALSE(r.ready);
  CHECK(r.reason.find("cannot hold the model") != std::string::npos);
  self->send_exit(planner, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(migration_fixture, "a better plan found on a join loads in the background, parks requests at a token boundary, then switches") {
  auto news1 = next_of<plan_news>(*w1);
  REQUIRE(news1);
  CHECK(news1->plan_version == v1->plan_version);
  join_fast();
  auto& w1 = *this->w1;
  auto& w2 = *this->w2;

  // Worker 2 is idle: it loads first, and v1 keeps serving meanwhile.
  auto a2 = next_of<assign_shard>(w2);
  REQUIRE(a2);
  CHECK(a2->plan_version > v1->plan_version);
  auto during = ask(self, planner);
  REQUIRE(during.ready);
  CHECK(during.path.plan_version == v1->plan_version);
  CHECK(during.path.hops[0].worker_id == 1);
  auto status = status_of(*board);
  REQUIRE(status.contains("migration"));
  CHECK(status["migration"]["phase"] == "loading");
  w2->send(planner, shard_loaded{2, a2->shard_id, true, "", 1.0, 1.0});

  // Then requests are asked to park; worker 1 gets its Assign only after that.
  auto pause = next_of<plan_pause>(self);
  REQUIRE(pause);
  CHECK(pause->plan_version == a2->plan_version);
  auto parked_wait = ask(self, planner);
  CHECK_FALSE(parked_wait.ready);
  CHECK(parked_wait.reason.find("switching to plan v" + std::to_string(pause->plan_version)) != std::string::npos);
  status = status_of(*board);
  CHECK(status["migration"]["phase"] == "parking");
  CHECK(status["migration"]["waiting_for_requests"] == 1);
  bool w1_deferred = false;
  for (auto& s : status["migration"]["stages"])
    if (s["worker"] == 1)
      w1_deferred = s["deferred"].get<bool>();
  CHECK(w1_deferred);
  self->send(planner, plan_parked{caf::actor_cast<request_hdl>(self), pause->plan_version});
  auto a1 = load_assigned(w1, planner, 1);
  REQUIRE(a1);
  CHECK(a1->plan_version == pause->plan_version);
  CHECK(a1->layer_end - a1->layer_begin == 1);

  // v2 serves: both workers, worker 1's load epoch moved on (its KV is gone).
  auto v2 = wait_plan(self);
  REQUIRE(v2);
  CHECK(v2->plan_version == pause->plan_version);
  REQUIRE(v2->hops.size() == 2);
  for (auto& h : v2->hops)
    if (h.worker_id == 1)
      CHECK(h.load_epoch > v1->hops[0].load_epoch);
  auto news2 = next_of<plan_news>(w1);
  REQUIRE(news2);
  CHECK(news2->plan_version == v2->plan_version);
  CHECK(news2->why.find("worker 2 (fast) joined") != std::string::npos);
  REQUIRE(news2->stages.size() == 2);
  for (auto& s : news2->stages)
    if (s.worker_id == 1) {
      CHECK(s.had_previous);
      CHECK(s.previous_begin == 0);
      CHECK(s.previous_end == 4);
    } else {
      CHECK_FALSE(s.had_previous);
    }
  CHECK(history().find("migrating in the background while v" + std::to_string(v1->plan_version)) != std::string::npos);
  CHECK(history().find("v" + std::to_string(v2->plan_version) + " serving after a background migration") !=
        std::string::npos);
  CHECK_FALSE(status_of(*board).contains("migration"));
}

TEST_CASE_METHOD(migration_fixture, "a migration whose new worker leaves is abandoned and the old plan keeps serving") {
  join_fast();
  auto a2 = next_of<assign_shard>(*w2);  // loading in the background...
  REQUIRE(a2);
  w2.reset();                            // ...and the new worker goes away
  route_reply r;
  for (int i = 0; i < 200 && history().find("abandoned") == std::string::npos; ++i)
    self->receive(caf::after(std::chrono::milliseconds(20)) >> [] {});
  CHECK(history().find("v" + std::to_string(a2->plan_version) + " abandoned: worker 2 left") != std::string::npos);
  r = ask(self, planner);
  REQUIRE(r.ready);
  CHECK(r.path.plan_version == v1->plan_version);
  CHECK(r.path.hops.size() == 1);
  CHECK(r.path.hops[0].load_epoch == v1->hops[0].load_epoch);  // w1 never switched: KV intact
  CHECK_FALSE(status_of(*board).contains("migration"));
}

TEST_CASE_METHOD(migration_fixture, "a worker of the old plan leaving while requests are parked abandons the switch and re-plans at once") {
  join_fast();
  auto a2 = next_of<assign_shard>(*w2);
  REQUIRE(a2);
  (*w2)->send(planner, shard_loaded{2, a2->shard_id, true, "", 1.0, 1.0});
  auto pause = next_of<plan_pause>(self);
  REQUIRE(pause);
  w1.reset();  // the parked-for worker of the old plan dies before the switch
  // The old plan cannot resume and worker 2 alone cannot hold the model.
  route_reply r;
  for (int i = 0; i < 200 && (r = ask(self, planner)).reason.find("cannot hold") == std::string::npos; ++i)
    self->receive(caf::after(std::chrono::milliseconds(20)) >> [] {});
  CHECK_FALSE(r.ready);
  CHECK(r.reason.find("cannot hold the model") != std::string::npos);
  CHECK(history().find("v" + std::to_string(pause->plan_version) + " abandoned: worker 1 left") != std::string::npos);
  // A big worker joins: a plan over the workers that are left serves again.
  caf::scoped_actor w3(sys);
  w3->send(planner, worker_joined{{3, "big", "node-cpu", 1ull << 30, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(w3)});
  auto a3 = load_assigned(w3, planner, 3);
  auto again = load_assigned(*w2, planner, 2, std::chrono::milliseconds(a3 ? 500 : 20000));
  REQUIRE((a3 || again));
  auto v3 = wait_plan(self);
  REQUIRE(v3);
  CHECK(v3->plan_version > pause->plan_version);
  for (auto& h : v3->hops)
    CHECK(h.worker_id != 1);
  CHECK(ask(self, planner).ready);
}

TEST_CASE_METHOD(migration_fixture, "an idle worker stands by with a serving stage's shard and takes over when that worker leaves") {
  // An equal worker joins: the plan stays (not better by the margin) and the
  // newcomer loads worker 1's shard ahead.
  w2 = std::make_unique<caf::scoped_actor>(sys);
  (*w2)->send(planner, worker_joined{{2, "spare", "node-cpu", 1ull << 30, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(*w2)});
  auto standby = load_assigned(*w2, planner, 2);
  REQUIRE(standby);
  CHECK(standby->shard_id == v1->hops[0].shard_id);
  auto r = ask(self, planner);
  REQUIRE(r.ready);
  CHECK(r.path.plan_version == v1->plan_version);  // nothing moved
  auto status = status_of(*board);
  nlohmann::json spare;
  for (auto& w : status["workers"])
    if (w["id"] == 2)
      spare = w;
  CHECK(spare["standby_for"] == nlohmann::json::array({0, 4}));
  CHECK_FALSE(spare.contains("layers"));
  // Worker 1 goes: its range goes to the worker already holding its shard.
  w1.reset();
  auto takeover = load_assigned(*w2, planner, 2);
  REQUIRE(takeover);
  CHECK(takeover->shard_id == standby->shard_id);
  auto v2 = wait_plan(self);
  REQUIRE(v2);
  REQUIRE(v2->hops.size() == 1);
  CHECK(v2->hops[0].worker_id == 2);
  CHECK(history().find("lost stages given to idle workers") != std::string::npos);
}

TEST_CASE("the planner answers routes while the shard maker cuts, and the serving plan serves until the next one is cut") {
  temp_dir tmp;
  auto model_dir = tiny_model(tmp.path);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto registry = std::make_shared<shard_registry>();
  auto pcfg = planner_config(model_dir, tmp.path, 1);
  // The test plays the shard maker: it holds each cut until it has asked the
  // planner for a route, then has a real shard maker cut.
  caf::scoped_actor maker{sys};
  auto real = sys.spawn<caf::detached>(shard_maker, pcfg.model_dir, pcfg.shard_dir, pcfg.shard_budget_bytes, registry);
  auto planner = spawn_planner_actor(sys, pcfg, std::make_shared<status_board>(), registry,
                                     caf::actor_cast<shard_maker_hdl>(maker));
  self->send(planner, subscribe_atom::value, caf::actor_cast<request_hdl>(self));
  auto hold_cut = [&](route_reply& during) {
    bool asked = false;
    maker->receive(
        [&](cut_shards& c) -> shards_ready {
          during = ask(self, planner);  // fails the test when the planner does not answer
          asked = true;
          shards_ready out;
          maker->request(real, std::chrono::seconds(20), c)
              .receive([&](shards_ready& r) { out = std::move(r); }, [](caf::error&) { FAIL("the cut failed"); });
          return out;
        },
        caf::after(std::chrono::seconds(20)) >> [] {});
    return asked;
  };

  caf::scoped_actor w1{sys};
  w1->send(planner, worker_joined{{1, "slow", "node-cpu", 1ull << 30, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(w1)});
  route_reply first;
  REQUIRE(hold_cut(first));
  CHECK_FALSE(first.ready);
  CHECK(first.reason == "cutting the stage shards of the next plan");
  REQUIRE(load_assigned(w1, planner, 1));
  auto v1 = wait_plan(self);
  REQUIRE(v1);

  // A better plan needs a new cut: meanwhile routes go on over v1.
  auto all = memory_to_fit(model_dir, {0, 4});
  caf::scoped_actor w2{sys};
  w2->send(planner, worker_joined{{2, "fast", "node-cpu", all - 1, 1e12, 1, {}}, caf::actor_cast<worker_hdl>(w2)});
  route_reply second;
  REQUIRE(hold_cut(second));
  CHECK(second.ready);
  CHECK(second.path.plan_version == v1->plan_version);
  auto a2 = next_of<assign_shard>(w2);
  REQUIRE(a2);
  CHECK(a2->plan_version > v1->plan_version);
  CHECK(registry->find(a2->shard_id, a2->files.at(0).name).has_value());
  self->send_exit(planner, caf::exit_reason::user_shutdown);
  self->send_exit(real, caf::exit_reason::user_shutdown);
}

TEST_CASE("old shard cuts past the disk budget are deleted, least recently used first, never one in use") {
  temp_dir tmp;
  auto shard_dir = tmp.path / "shards";
  auto cuts = shard_dir / "m";
  auto registry = std::make_shared<shard_registry>();
  auto now = fs::file_time_type::clock::now();
  int age_hours = 4;
  for (const char* name : {"in-use-oldest", "old", "newer", "newest"}) {
    fs::create_directories(cuts / name);
    std::ofstream(cuts / name / "stage.onnx") << std::string(1000, 'x');
    // The same content id in two cuts, as equal stages of two plans have.
    registry->add("same", "stage.onnx", {fs::absolute(cuts / name / "stage.onnx").string(), "h"});
    registry->add(name, "stage.onnx", {fs::absolute(cuts / name / "stage.onnx").string(), "h"});
    fs::last_write_time(cuts / name, now - std::chrono::hours(age_hours--));
  }
  // 3000 bytes: the cut in use, then the newest two; "old" would make 4000.
  auto r = remove_old_cuts((tmp.path / "m").string(), shard_dir.string(), {"in-use-oldest"}, 3000, *registry);
  CHECK(r.deleted == 1);
  CHECK(r.freed_bytes == 1000);
  CHECK(r.kept == 3);
  CHECK(fs::exists(cuts / "in-use-oldest"));
  CHECK_FALSE(fs::exists(cuts / "old"));
  CHECK(fs::exists(cuts / "newer"));
  CHECK(fs::exists(cuts / "newest"));
  CHECK_FALSE(registry->find("old", "stage.onnx").has_value());
  CHECK(registry->find("newest", "stage.onnx").has_value());
  // A budget of one byte keeps only the cut in use; the shared id is still served from it.
  r = remove_old_cuts((tmp.path / "m").string(), shard_dir.string(), {"in-use-oldest"}, 1, *registry);
  CHECK(r.deleted == 2);
  CHECK(r.kept == 1);
  CHECK_FALSE(fs::exists(cuts / "newest"));
  auto same = registry->find("same", "stage.onnx");
  REQUIRE(same);
  CHECK(same->path == fs::absolute(cuts / "in-use-oldest" / "stage.onnx").string());
}
