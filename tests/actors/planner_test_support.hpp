// Helpers of the planner actor tests (planner_actor_test.cpp, planner_loss_test.cpp):
// an actor system with the message types, the tiny model in a temp dir, fake
// workers (scoped actors) that answer Loaded, and the fixture of a plan served by
// one slow worker that a join can improve.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/plan_view.hpp"
#include "actors/shard_maker.hpp"
#include "actors/spawn.hpp"
#include "actors/status_board.hpp"
#include "model/graph/graph_inspector.hpp"
#include "model/build/llama_builder.hpp"
#include "model/build/llama_config.hpp"
#include "model/build/weight_source.hpp"

using namespace tessera::actors;
namespace fs = std::filesystem;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("tessera-planner-test-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

std::string tiny_model(const fs::path& root) {
  auto dir = (root / "tiny").string();
  auto weights = tessera::model::seeded_weight_source(1);
  tessera::model::build_llama_model(tessera::model::preset_config("tiny"), *weights, dir);
  return dir;
}

// The planner's config for these tests: the tiny model, shards under `root`,
// a short settle time, and `expected` local workers to wait for.
node_config planner_config(const std::string& model_dir, const fs::path& root, size_t expected) {
  node_config cfg;
  cfg.model_dir = model_dir;
  cfg.shard_dir = (root / "shards").string();
  cfg.settle_ms = 10;
  cfg.local_workers.resize(expected);
  return cfg;
}

nlohmann::json status_of(const status_board& board) { return nlohmann::json::parse(render_status(board.planner())); }

// Waits for an assign_shard on a fake worker; answers Loaded to the planner.
std::optional<assign_shard> load_assigned(caf::scoped_actor& w, const planner_hdl& planner, uint64_t id,
                                          std::chrono::milliseconds wait = std::chrono::seconds(20)) {
  std::optional<assign_shard> got;
  w->receive([&](assign_shard& a) { got = a; }, caf::after(wait) >> [] {});
  if (got)
    w->send(planner, shard_loaded{id, got->shard_id, true, "", 1.0, 1.0});
  return got;
}

// Waits for the planner to announce a serving plan (subscribe_atom).
std::optional<route> wait_plan(caf::scoped_actor& self) {
  std::optional<route> out;
  self->receive([&](plan_changed& p) { out = p.path; }, caf::after(std::chrono::seconds(20)) >> [] {});
  return out;
}

route_reply ask(caf::scoped_actor& self, const planner_hdl& planner) {
  route_reply out;
  self->request(planner, std::chrono::seconds(5), get_route_atom::value)
      .receive([&](route_reply& r) { out = r; }, [](caf::error&) { FAIL("planner did not answer"); });
  return out;
}

}  // namespace

namespace {

// Smallest worker memory (bytes) with which `range` of the model fits, as the
// planner actor sizes stages (the default config's planner keys).
uint64_t memory_to_fit(const std::string& model_dir, tessera::planner::layer_range range) {
  node_config defaults;
  tessera::planner::planner_options popts;
  popts.context_tokens = defaults.context;
  popts.concurrent_sequences = defaults.concurrent_sequences;
  popts.scratch_bytes = defaults.scratch_bytes;
  auto model = to_model_profile(tessera::model::inspect_model(model_dir));
  tessera::planner::cost_model costs(model, popts);
  worker_info info{9, "probe", "node-cpu", 0, 1e12, 1, {}};
  uint64_t lo = 1, hi = 1ull << 36;
  while (lo < hi) {
    auto mid = lo + (hi - lo) / 2;
    info.memory_bytes = mid;
    if (costs.fits(to_worker_profile(info, {defaults.link_rtt_ms, defaults.link_bytes_per_s}), range))
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

template <class T>
std::optional<T> next_of(caf::scoped_actor& who, std::chrono::milliseconds wait = std::chrono::seconds(20)) {
  std::optional<T> got;
  who->receive([&](T& x) { got = std::move(x); }, caf::after(wait) >> [] {});
  return got;
}

// v1 served by one slow worker (w1) holding the whole tiny model; `self` plays
// a running request (subscribed). join_fast() adds a fast worker that holds 3
// of the 4 layers: the better plan keeps w1 with a smaller range, so w1 must
// switch shards.
struct migration_fixture {
  temp_dir tmp;
  std::string model_dir = tiny_model(tmp.path);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<status_board> board = std::make_shared<status_board>();
  planner_hdl planner;
  std::unique_ptr<caf::scoped_actor> w1, w2;
  std::optional<route> v1;

  migration_fixture() {
    auto cfg = planner_config(model_dir, tmp.path, 1);
    cfg.park_timeout_ms = 60000;  // the tests park explicitly
    planner = spawn_planner_actor(sys, cfg, board, std::make_shared<shard_registry>());
    self->send(planner, subscribe_atom::value, caf::actor_cast<request_hdl>(self));
    w1 = std::make_unique<caf::scoped_actor>(sys);
    (*w1)->send(planner, worker_joined{{1, "slow", "node-cpu", 1ull << 30, 1e9, 1, {}}, caf::actor_cast<worker_hdl>(*w1)});
    REQUIRE(load_assigned(*w1, planner, 1));
    v1 = wait_plan(self);
    REQUIRE(v1);
    REQUIRE(v1->hops.size() == 1);
  }
  ~migration_fixture() { self->send_exit(planner, caf::exit_reason::user_shutdown); }

  void join_fast() {
    auto all = memory_to_fit(model_dir, {0, 4});
    REQUIRE(memory_to_fit(model_dir, {0, 3}) < all);
    w2 = std::make_unique<caf::scoped_actor>(sys);
    (*w2)->send(planner, worker_joined{{2, "fast", "node-cpu", all - 1, 1e12, 1, {}}, caf::actor_cast<worker_hdl>(*w2)});
  }
  std::string history() {
    std::string out;
    auto status = status_of(*board);  // (kept alive for the loop)
    for (auto& line : status["replans"])
      out += line.get<std::string>() + "\n";
    return out;
  }
};

}  // namespace
