// Spot checks in the request actor (actors/request_verify.cpp) against fake
// one-stage workers and a fake planner (plain actors): a standby re-runs the
// stage's steps; a serving stage it contradicts is evicted before its token
// reaches the client, and the request re-runs from position 0 without it.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/spawn.hpp"
#include "actors/spot_check.hpp"
#include "model/tokenizer/byte_tokenizer.hpp"

using namespace tessera::actors;
using json = nlohmann::json;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

worker_hdl as_worker(const caf::actor& a) { return caf::actor_cast<worker_hdl>(a); }
using seen_atom = caf::atom_constant<caf::atom("seen")>;  // test -> fake stage: what did you run?

// What a fake stage saw: (position, seq_len) of every step, and an eviction reason.
struct stage_log {
  std::vector<std::pair<uint32_t, uint32_t>> steps;
  std::string evicted;
};

// A one-stage "model": the next token is (last input token + `step`) mod 256;
// step 1 is the honest model, 2 a liar. An eviction ends it.
caf::behavior fake_stage(caf::stateful_actor<stage_log>* self, int64_t step) {
  return {
      [=](stage_step& s) {
        self->state.steps.emplace_back(s.position, s.seq_len);
        self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, {(s.token_ids.back() + step) % 256},
                                           1.0, 1, {}});
      },
      [=](release_sequence) {},
      [=](evict_atom, const std::string& reason) {
        self->state.evicted = reason;
        self->quit();
      },
      [=](seen_atom) { return std::make_pair(self->state.steps.size(), self->state.evicted); },
  };
}

// Serves `serving` (worker 1) with `standby` (worker 2) standing by; once
// `serving` is gone, `standby` alone.
caf::behavior fake_planner(caf::event_based_actor* self, caf::actor serving, caf::actor standby) {
  self->monitor(serving);
  auto gone = std::make_shared<bool>(false);
  self->set_down_handler([=](caf::down_msg&) { *gone = true; });
  return {[=](subscribe_atom, request_hdl&) {},
          [=](get_route_atom) -> route_reply {
            route r;
            r.plan_version = *gone ? 2 : 1;
            if (*gone) {
              r.hops.push_back({as_worker(standby), 2, "s", 0, 4, 0, "standby"});
            } else {
              r.hops.push_back({as_worker(serving), 1, "s", 0, 4, 0, "serving"});
              r.verifiers.push_back({as_worker(standby), 2, "s", 0, 4, 0, "standby"});
            }
            return {true, r, ""};
          }};
}

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<const tessera::model::tokenizer> tok = std::make_shared<tessera::model::byte_tokenizer>();
  request_options opts;

  // "abc" (BOS a b c) for 4 greedy tokens; every event the client got, as JSON.
  std::vector<json> run(caf::actor planner) {
    opts.route_retry_ms = 10;
    generate_params p;
    p.prompt = "abc";
    p.max_tokens = 4;
    // Ids from new_request_id(), as every client shell takes them: the
    // verifiers' sequences take theirs there too.
    auto r = spawn_request_actor(sys, caf::actor_cast<client_hdl>(self), new_request_id(), p,
                                 caf::actor_cast<planner_hdl>(planner), tok, opts);
    self->monitor(r);
    std::vector<json> out;
    for (bool down = false; !down;) {
      bool got = false;
      auto frame = [&](const std::string& text) {
        out.push_back(json::parse(text));
        got = true;
      };
      self->receive([&](token_event& e) { frame(encode(e)); }, [&](status_event& e) { frame(encode(e)); },
                    [&](done_event& e) { frame(encode(e)); }, [&](error_event& e) { frame(encode(e)); },
                    [&](caf::down_msg&) { down = got = true; }, caf::after(std::chrono::seconds(10)) >> [] {});
      REQUIRE(got);
    }
    return out;
  }
  std::pair<size_t, std::string> seen(const caf::actor& stage) {
    std::pair<size_t, std::string> out{0, "no answer"};
    self->request(stage, std::chrono::seconds(5), seen_atom::value)
        .receive([&](std::pair<size_t, std::string>& p) { out = p; }, [](caf::error&) {});
    return out;
  }
};

std::string text_of(const std::vector<json>& msgs) {
  std::string text;
  for (auto& m : msgs)
    if (m.contains("token") || (m.contains("done") && m.contains("text")))
      text += m["text"].get<std::string>();
  return text;
}

}  // namespace

TEST_CASE_METHOD(fixture, "a serving stage a standby contradicts is evicted before its token reaches the client") {
  auto liar = sys.spawn(fake_stage, 2);
  auto standby = sys.spawn(fake_stage, 1);
  auto planner = sys.spawn(fake_planner, liar, standby);
  auto ledger = std::make_shared<spot_check_ledger>(spot_check_settings{0.0, 4, {1e-3}});
  opts.checks = ledger;
  auto msgs = run(planner);
  CHECK(text_of(msgs) == "defg");  // the honest model's, not a single token of the liar's ("e", "g", ...)
  bool recovering = false;
  for (auto& m : msgs)
    if (m.value("status", "") == "recovering") {
      recovering = true;
      CHECK(m["reason"].get<std::string>().find("worker 1 (serving) failed a spot check: token ids {101} where a "
                                                "second holder drew {100}") != std::string::npos);
    }
  CHECK(recovering);
  CHECK(ledger->mismatches() == 1);
  auto [liar_steps, reason] = seen(liar);  // the liar quit: no answer
  CHECK(liar_steps == 0);
  CHECK(reason == "no answer");
  // the standby re-ran the prefill as the verifier, then served every step from position 0
  CHECK(seen(standby).first == 1 + 4);
}

TEST_CASE_METHOD(fixture, "holders that agree let every token through; a new worker's first steps are all checked") {
  auto serving = sys.spawn(fake_stage, 1);
  auto standby = sys.spawn(fake_stage, 1);
  auto planner = sys.spawn(fake_planner, serving, standby);
  auto ledger = std::make_shared<spot_check_ledger>(spot_check_settings{0.0, 3, {1e-3}});
  opts.checks = ledger;
  auto msgs = run(planner);
  CHECK(text_of(msgs) == "defg");
  CHECK(ledger->passes() == 3);  // the first 3 steps; then rate 0
  CHECK(ledger->mismatches() == 0);
  CHECK(seen(serving) == std::make_pair(size_t{4}, std::string()));
  CHECK(seen(standby).first == 3);
  CHECK(msgs.back()["done"] == true);
}

TEST_CASE_METHOD(fixture, "without spot checks the standby is never asked") {
  auto serving = sys.spawn(fake_stage, 1);
  auto standby = sys.spawn(fake_stage, 1);
  auto planner = sys.spawn(fake_planner, serving, standby);
  auto msgs = run(planner);
  CHECK(text_of(msgs) == "defg");
  CHECK(seen(standby).first == 0);
}
