// The request actor against a fake planner and a fake one-stage worker (both
// plain actors): streaming, stop conditions, queued status, a lost stage
// rebuilt from position 0, and bad prompts.
#include <catch2/catch.hpp>

#include <array>
#include <cstring>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/spawn.hpp"
#include "actors/input_store.hpp"
#include "actors/stop_strings.hpp"
#include "fake_socket.hpp"
#include "model/tokenizer/byte_tokenizer.hpp"

using namespace tessera::actors;
using tessera::testing::fake_connection;
using json = nlohmann::json;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

// The fakes below are dynamically typed actors; these give them the typed
// handles the request actor's protocol asks for.
worker_hdl as_worker(const caf::actor& a) { return caf::actor_cast<worker_hdl>(a); }
planner_hdl as_planner(const caf::actor& a) { return caf::actor_cast<planner_hdl>(a); }

// Test-only messages to the fake planners.
using announce_atom = caf::atom_constant<caf::atom("announce")>;  // announce plan v2 now
using parked_atom = caf::atom_constant<caf::atom("parked")>;      // which versions were parked for?

// A one-stage "model": the next token is (last input token + 1) mod 256, and
// it records every step's position so tests can see prefill and replays.
struct fake_stage_state {
  std::vector<uint32_t> positions;
  int fail_at_step = -1;  // answer this step number with step_failed once
};
caf::behavior fake_stage(caf::stateful_actor<fake_stage_state>* self, int fail_at_step) {
  self->state.fail_at_step = fail_at_step;
  return {
      [=](stage_step& s) {
        self->state.positions.push_back(s.position);
        if (static_cast<int>(s.step) == self->state.fail_at_step) {
          self->state.fail_at_step = -1;
          self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, 0, 1, "injected"});
          return;
        }
        self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, {(s.token_ids.back() + 1) % 256},
                                           1.0, 1});
      },
      [=](release_sequence) {},
      [=](get_route_atom) { return self->state.positions; },
  };
}

// A planner that says "not ready" `not_ready` times, then serves `stage`.
caf::behavior fake_planner(caf::stateful_actor<int>* self, caf::actor stage, int not_ready) {
  self->state = not_ready;
  return {[=](subscribe_atom, request_hdl&) {},
          [=](get_route_atom) -> route_reply {
    if (self->state-- > 0)
      return {false, {}, "waiting for workers (0 of 1 joined)"};
    route r;
    r.plan_version = 1;
    r.hops.push_back({as_worker(stage), 1, "s", 0, 4});
    return {true, r, ""};
  }};
}

struct request_fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<const tessera::model::tokenizer> tok = std::make_shared<tessera::model::byte_tokenizer>();
  request_options opts;
  std::shared_ptr<fake_connection> conn = std::make_shared<fake_connection>();

  // Runs one request to the end with the test as its client; returns every
  // event it sent as the JSON frame a client socket would get.
  std::vector<json> run(generate_params p, caf::actor planner) {
    auto r = spawn_request_actor(sys, caf::actor_cast<client_hdl>(self), 1, std::move(p), as_planner(planner), tok,
                                 opts);
    self->monitor(r);
    std::vector<json> out;
    bool down = false;
    while (!down) {  // the request's events reach us before its down_msg
      bool got = false;
      auto frame = [&](const std::string& text) {
        out.push_back(json::parse(text));
        got = true;
      };
      self->receive([&](token_event& e) { frame(encode(e)); },
                    [&](status_event& e) { frame(encode(e)); },
                    [&](done_event& e) { frame(encode(e)); },
                    [&](error_event& e) { frame(encode(e)); },
                    [&](caf::down_msg&) { down = got = true; },
                    caf::after(std::chrono::seconds(10)) >> [] {});
      REQUIRE(got);
    }
    return out;
  }
  // "abc" (BOS a b c: 4 prompt tokens) for 4 greedy tokens through `planner`'s routes.
  std::vector<json> run_abc(caf::actor planner) {
    opts.route_retry_ms = 10;
    generate_params p;
    p.prompt = "abc";
    p.max_tokens = 4;
    return run(p, planner);
  }
  // The position of each step a chain_stage ran (it logs hop, position, seq_len).
  std::vector<uint32_t> step_positions(const caf::actor& stage) {
    auto seen = positions(stage);
    std::vector<uint32_t> out;
    for (size_t i = 0; i + 2 < seen.size(); i += 3)
      out.push_back(seen[i + 1]);
    return out;
  }
  std::vector<uint32_t> positions(const caf::actor& stage) {
    std::vector<uint32_t> out;
    self->request(stage, std::chrono::seconds(5), get_route_atom::value)
        .receive([&](std::vector<uint32_t>& p) { out = p; }, [](caf::error&) { FAIL("no answer"); });
    return out;
  }
};

std::string text_of(const std::vector<json>& msgs) {
  std::string text;
  for (auto& m : msgs) {
    if (m.contains("token"))
      text += m["text"].get<std::string>();
    if (m.contains("done") && m.contains("text"))
      text += m["text"].get<std::string>();
  }
  return text;
}

}  // namespace

TEST_CASE_METHOD(request_fixture, "a greedy request streams max_tokens tokens and ends with usage and timings") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 0);
  generate_params p;
  p.prompt = "abc";
  p.max_tokens = 4;
  auto msgs = run(p, planner);
  REQUIRE(msgs.size() == 5);
  CHECK(text_of(msgs) == "defg");
  CHECK(msgs[0]["token"] == int('d'));
  auto& done = msgs.back();
  CHECK(done["done"] == true);
  CHECK(done["finish_reason"] == "length");
  CHECK(done["usage"]["prompt_tokens"] == 4);  // BOS + 3 bytes
  CHECK(done["usage"]["completion_tokens"] == 4);
  CHECK(done["timings"].contains("queue_ms"));
  CHECK(done["timings"].contains("ttft_ms"));
  CHECK(done["timings"].contains("per_token_ms"));
  // prefill at 0 for the 4 prompt tokens, then one position per token
  CHECK(positions(stage) == std::vector<uint32_t>{0, 4, 5, 6});
}

TEST_CASE_METHOD(request_fixture, "a stop string ends the reply before the stop text") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 0);
  generate_params p;
  p.prompt = "a";
  p.max_tokens = 20;
  p.stop = {"ef"};
  auto msgs = run(p, planner);
  CHECK(text_of(msgs) == "bcd");
  CHECK(msgs.back()["finish_reason"] == "stop");
}

TEST_CASE_METHOD(request_fixture, "without capacity the client is told it is queued, then served") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 3);
  opts.route_retry_ms = 10;
  generate_params p;
  p.prompt = "x";
  p.max_tokens = 2;
  auto msgs = run(p, planner);
  REQUIRE(msgs.size() >= 2);
  CHECK(msgs[0]["status"] == "queued");
  CHECK(msgs[0]["reason"].get<std::string>().find("waiting for workers") != std::string::npos);
  CHECK(text_of(msgs) == "yz");
  CHECK(msgs.back()["done"] == true);
}

TEST_CASE_METHOD(request_fixture, "a lost stage is rebuilt from position 0 and the reply is unchanged") {
  auto stage = sys.spawn(fake_stage, 3);
  auto planner = sys.spawn(fake_planner, stage, 0);
  opts.route_retry_ms = 10;
  generate_params p;
  p.prompt = "abc";
  p.max_tokens = 4;
  auto msgs = run(p, planner);
  CHECK(text_of(msgs) == "defg");
  CHECK(msgs.back()["timings"]["replays"] == 1);
  // step 3 (position 5) failed, then the tokens so far were replayed from 0
  CHECK(positions(stage) == std::vector<uint32_t>{0, 4, 5, 0, 6});
}

TEST_CASE_METHOD(request_fixture, "a prompt longer than the context is a clear error") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 0);
  opts.config.context = 8;
  generate_params p;
  p.prompt = "0123456789";
  auto msgs = run(p, planner);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0]["code"] == "prompt_too_long");
  CHECK(msgs[0]["error"].get<std::string>().find("context holds 8") != std::string::npos);
}

TEST_CASE_METHOD(request_fixture, "no capacity for longer than the queue timeout fails with the reason") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 1000000);
  opts.route_retry_ms = 10;
  opts.config.queue_timeout_ms = 100;
  generate_params p;
  p.prompt = "x";
  auto msgs = run(p, planner);
  CHECK(msgs.front()["status"] == "queued");
  CHECK(msgs.back()["code"] == "no_capacity");
}

TEST_CASE("seeded draws are reproducible, lie in 0 <= u < 1 and differ across steps and seeds") {
  CHECK(seeded_uniform(7, 3) == seeded_uniform(7, 3));
  CHECK(seeded_uniform(7, 3) != seeded_uniform(7, 4));
  CHECK(seeded_uniform(7, 3) != seeded_uniform(8, 3));
  for (uint64_t i = 0; i < 1000; ++i) {
    auto x = seeded_uniform(1, i);
    CHECK(x >= 0.0f);
    CHECK(x < 1.0f);
  }
}

TEST_CASE("the stop matcher holds back a possible stop prefix and never emits past a stop") {
  stop_matcher m({"END"});
  CHECK(m.push("abcE") == "abc");
  CHECK(m.push("N") == "");
  CHECK(m.push("x") == "ENx");
  CHECK(m.push("yEND tail") == "y");
  CHECK(m.stopped());
  CHECK(m.flush() == "");
  stop_matcher none({});
  CHECK(none.push("abc") == "abc");
}

namespace {
tensor_blob hidden(uint32_t seq, char fill) {
  return {"h", 1, {1, static_cast<int64_t>(seq), 2}, std::string(seq * 8, fill)};
}
}  // namespace

TEST_CASE("kept stage inputs replay positions 0 to n-1 in order and follow KV truncation") {
  input_store store(1 << 20);
  store.add(6, 0, 3, {hidden(3, 'a')});  // prefill
  store.add(6, 3, 1, {hidden(1, 'b')});
  store.add(6, 4, 1, {hidden(1, 'c')});
  auto r = store.replay(6, 5);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].shape == std::vector<int64_t>{1, 5, 2});
  CHECK((*r)[0].data == std::string(24, 'a') + std::string(8, 'b') + std::string(8, 'c'));
  auto part = store.replay(6, 4);
  REQUIRE(part);
  CHECK((*part)[0].shape[1] == 4);
  CHECK_FALSE(store.replay(6, 6));   // not covered
  CHECK_FALSE(store.replay(2, 1));   // another boundary
  store.add(6, 4, 1, {hidden(1, 'd')});  // a replayed step replaces position 4
  CHECK((*store.replay(6, 5))[0].data.substr(32) == std::string(8, 'd'));
  store.add(6, 0, 2, {hidden(2, 'e')});  // a rebuild from 0 drops everything after
  CHECK_FALSE(store.replay(6, 3));
  CHECK(store.replay(6, 2));
}

TEST_CASE("the input store asks only for copies it can replay and does not hold yet") {
  input_store store(1 << 20);
  auto hidden = [](uint32_t n) { return std::vector<tensor_blob>{{"h", 1, {1, n, 2}, std::string(8 * n, 'x')}}; };
  CHECK(store.wants(4, 0, 3));        // nothing kept: a prefill's inputs are of use
  CHECK_FALSE(store.wants(4, 3, 1));  // positions 0..2 missing: a copy of 3 could never be replayed
  store.add(4, 0, 3, hidden(3));
  CHECK_FALSE(store.wants(4, 0, 3));  // already kept
  CHECK(store.wants(4, 3, 1));        // the next decode step's input
  CHECK_FALSE(store.wants(8, 3, 1));  // another boundary with a gap
  input_store off(10);
  off.add(4, 0, 3, hidden(3));        // past the cap: the store switches off
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.wants(4, 0, 3));
}

TEST_CASE("the input store turns itself off past its byte cap") {
  input_store store(100);
  store.add(1, 0, 10, {hidden(10, 'x')});  // 80 bytes
  CHECK(store.enabled());
  store.add(1, 10, 5, {hidden(5, 'y')});   // 120 bytes: over the cap
  CHECK_FALSE(store.enabled());
  CHECK_FALSE(store.replay(1, 10));
}

namespace {

// A pipeline stage that behaves like a worker actor: hop 0 turns token ids into
// a [1, seq, 1] int64 "hidden" tensor, later hops pass it on; the last hop
// answers (last value + 1) % 256. It relays copies where keep_inputs_hops asks and
// fails step `fail_at_step` once. Records (hop, position, seq_len) per step.
struct chain_state {
  std::vector<std::array<uint32_t, 3>> seen;
  int fail_at_step = -1;
};
caf::behavior chain_stage(caf::stateful_actor<chain_state>* self, int fail_at_step) {
  self->state.fail_at_step = fail_at_step;
  return {
      [=](stage_step& s) {
        self->state.seen.push_back({s.hop, s.position, s.seq_len});
        if (static_cast<int>(s.step) == self->state.fail_at_step) {
          self->state.fail_at_step = -1;
          self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, s.hop, 0, "injected"});
          return;
        }
        std::vector<int64_t> values = s.token_ids;
        if (s.hop > 0) {
          const auto& d = s.tensors.at(0).data;
          values.resize(d.size() / 8);
          std::memcpy(values.data(), d.data(), d.size());
        }
        if (s.hop + 1 == s.path.hops.size()) {
          self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, {(values.back() + 1) % 256}, 1.0, 1});
          return;
        }
        if (s.end_hop != 0 && s.hop + 1 >= s.end_hop) {  // a one-stage rebuild ends here (as worker_actor does)
          self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, {}, 1.0, s.hop + 1});
          return;
        }
        tensor_blob t{"hidden", 3, {1, static_cast<int64_t>(values.size()), 1},
                      std::string(reinterpret_cast<const char*>(values.data()), values.size() * 8)};
        s.hop += 1;
        s.token_ids.clear();
        s.tensors = {t};
        if ((s.keep_inputs_hops >> s.hop) & 1)
          self->send(s.reply_to, relayed_input{s.request_id, s.step, s.hop, s.position, s.seq_len, s.tensors});
        self->send(s.path.hops[s.hop].worker, s);
      },
      [=](release_sequence) {},
      [=](get_route_atom) {
        std::vector<uint32_t> flat;
        for (auto& x : self->state.seen)
          flat.insert(flat.end(), x.begin(), x.end());
        return flat;
      },
  };
}

// Serves route (a, b) the first time it is asked, then (a, c): same boundaries,
// stage 2 moved from b to c (as after b's worker died).
caf::behavior swap_planner(caf::stateful_actor<int>* self, caf::actor a, caf::actor b, caf::actor c) {
  return {[=](subscribe_atom, request_hdl&) {},
          [=](get_route_atom) -> route_reply {
    bool swapped = self->state++ > 0;
    route r;
    r.plan_version = swapped ? 2 : 1;
    r.hops.push_back({as_worker(a), 1, "A", 0, 2});
    if (swapped)
      r.hops.push_back({as_worker(c), 3, "C", 2, 4});
    else
      r.hops.push_back({as_worker(b), 2, "B", 2, 4});
    return {true, r, ""};
  }};
}

}  // namespace

TEST_CASE_METHOD(request_fixture, "a lost later stage is rebuilt from the kept inputs and the first stage keeps its KV") {
  auto a = sys.spawn(chain_stage, -1);
  auto b = sys.spawn(chain_stage, 3);  // step 3 (position 5) fails on b
  auto c = sys.spawn(chain_stage, -1);
  auto planner = sys.spawn(swap_planner, a, b, c);
  auto msgs = run_abc(planner);
  CHECK(text_of(msgs) == "defg");
  CHECK(msgs.back()["timings"]["input_replays"] == 1);
  CHECK(msgs.back()["timings"]["replays"] == 0);
  // a keeps its KV: prefill at 0, then only decode positions (5 twice: the lost step is redone)
  CHECK(step_positions(a) == std::vector<uint32_t>{0, 4, 5, 5, 6});
  // c gets the kept inputs of positions [0, 5) at hop 1, then the decode steps
  auto seen_c = positions(c);
  CHECK(seen_c == std::vector<uint32_t>{1, 0, 5, 1, 5, 1, 1, 6, 1});
}

// A planner that migrates: the first route is (a, b) in plan v1; right after
// answering it, it announces plan v2 = (a, c) — by plan_changed (the request
// moves at its next token boundary) or, with `pause`, by plan_pause (the
// request parks at its next token boundary, answers plan_parked, and only then
// is v2 served).
struct migrating_planner_state {
  request_hdl subscriber;
  int asked = 0;
  bool parked = false;
};
caf::behavior migrating_planner(caf::stateful_actor<migrating_planner_state>* self, caf::actor a, caf::actor b,
                                caf::actor c, bool pause) {
  auto route_of = [=](uint32_t version) {
    route r;
    r.plan_version = version;
    r.hops.push_back({as_worker(a), 1, "A", 0, 2});
    if (version == 1)
      r.hops.push_back({as_worker(b), 2, "B", 2, 4});
    else
      r.hops.push_back({as_worker(c), 3, "C", 2, 4});
    return r;
  };
  return {
      [=](subscribe_atom, request_hdl& who) { self->state.subscriber = who; },
      [=](get_route_atom) -> route_reply {
        auto& st = self->state;
        if (st.asked++ == 0) {
          self->send(self, announce_atom::value);  // announce v2 after this answer went out
          return {true, route_of(1), ""};
        }
        if (pause && !st.parked)
          return {false, {}, "switching to plan v2"};
        return {true, route_of(2), ""};
      },
      [=](announce_atom) {
        if (pause)
          self->send(self->state.subscriber, plan_pause{2, "test"});
        else
          self->send(self->state.subscriber, plan_changed{route_of(2), "test"});
      },
      [=](plan_parked& p) {
        self->state.parked = p.plan_version == 2;
        self->send(self->state.subscriber, plan_changed{route_of(2), "test"});
      },
      [=](parked_atom) { return self->state.parked; },
  };
}

TEST_CASE_METHOD(request_fixture, "a new plan is taken at a token boundary: no step is lost, only the moved stage is rebuilt") {
  for (bool pause : {false, true}) {
    DYNAMIC_SECTION((pause ? "parked first (plan_pause)" : "moved while running (plan_changed)")) {
      auto a = sys.spawn(chain_stage, -1);
      auto b = sys.spawn(chain_stage, -1);
      auto c = sys.spawn(chain_stage, -1);
      auto planner = sys.spawn(migrating_planner, a, b, c, pause);
      auto msgs = run_abc(planner);
      CHECK(text_of(msgs) == "defg");
      auto timings = msgs.back()["timings"];
      CHECK(timings["migrations"] == 1);
      CHECK(timings["lost_stages"] == 0);
      CHECK(timings["input_replays"] == 1);
      CHECK(timings["replays"] == 0);
      // a keeps its KV and never redoes a step: prefill at 0, then decode 4, 5, 6
      CHECK(step_positions(a) == std::vector<uint32_t>{0, 4, 5, 6});
      // b ran the prefill only; c got the kept inputs of positions [0, 4), then decode
      CHECK(positions(b) == std::vector<uint32_t>{1, 0, 4});
      CHECK(positions(c) == std::vector<uint32_t>{1, 0, 4, 1, 4, 1, 1, 5, 1, 1, 6, 1});
      bool parked = false;
      self->request(planner, std::chrono::seconds(5), parked_atom::value)
          .receive([&](bool x) { parked = x; }, [](caf::error&) { FAIL("no answer"); });
      CHECK(parked == pause);
    }
  }
}

// Serves (a, b, c) the first time it is asked, then (a, d, c): the middle
// stage moved from b to d (as after b's worker died), the others stayed.
caf::behavior middle_swap_planner(caf::stateful_actor<int>* self, caf::actor a, caf::actor b, caf::actor c,
                                  caf::actor d) {
  return {[=](subscribe_atom, request_hdl&) {},
          [=](get_route_atom) -> route_reply {
            bool swapped = self->state++ > 0;
            route r;
            r.plan_version = swapped ? 2 : 1;
            r.hops.push_back({as_worker(a), 1, "A", 0, 1});
            r.hops.push_back(swapped ? route_hop{as_worker(d), 4, "B", 1, 2} : route_hop{as_worker(b), 2, "B", 1, 2});
            r.hops.push_back({as_worker(c), 3, "C", 2, 4});
            return {true, r, ""};
          }};
}

TEST_CASE_METHOD(request_fixture, "a lost middle stage is rebuilt alone: the stages before and after it keep their KV") {
  auto a = sys.spawn(chain_stage, -1);
  auto b = sys.spawn(chain_stage, 3);  // step 3 (position 5) fails on b
  auto c = sys.spawn(chain_stage, -1);
  auto d = sys.spawn(chain_stage, -1);
  auto msgs = run_abc(sys.spawn(middle_swap_planner, a, b, c, d));
  CHECK(text_of(msgs) == "defg");
  auto timings = msgs.back()["timings"];
  CHECK(timings["input_replays"] == 1);
  CHECK(timings["replays"] == 0);
  CHECK(timings["lost_stages"] == 1);
  // a: prefill, decode 4, the lost step 5, then 5 again and 6 (no rebuild)
  CHECK(step_positions(a) == std::vector<uint32_t>{0, 4, 5, 5, 6});
  // d: the kept inputs of positions [0, 5) at hop 1 (nothing forwarded), then decode 5 and 6
  CHECK(positions(d) == std::vector<uint32_t>{1, 0, 5, 1, 5, 1, 1, 6, 1});
  // c never saw a rebuild: prefill, decode 4, then 5 and 6 after the loss
  CHECK(positions(c) == std::vector<uint32_t>{2, 0, 4, 2, 4, 1, 2, 5, 1, 2, 6, 1});
}

TEST_CASE_METHOD(request_fixture, "bad client JSON is answered with an error and the socket stays usable") {
  auto stage = sys.spawn(fake_stage, -1);
  auto planner = sys.spawn(fake_planner, stage, 0);
  opts.config.max_tokens_default = 3;
  auto client = spawn_client_actor(sys, conn, as_planner(planner), tok, opts);
  caf::anon_send(client, ws_frame{"{not json", false});
  caf::anon_send(client, ws_frame{R"({"prompt": "a", "tempo": 1})", false});
  caf::anon_send(client, ws_frame{R"({"prompt": "a", "top_p": 2})", false});
  caf::anon_send(client, ws_frame{R"({"prompt": "a"})", false});
  auto e1 = json::parse(conn->wait_frame(0)->payload);
  auto e2 = json::parse(conn->wait_frame(1)->payload);
  auto e3 = json::parse(conn->wait_frame(2)->payload);
  CHECK(e1["code"] == "bad_request");
  CHECK(e1["error"].get<std::string>().find("malformed JSON") != std::string::npos);
  CHECK(e2["error"].get<std::string>().find("unknown field 'tempo'") != std::string::npos);
  CHECK(e3["error"].get<std::string>().find("top_p") != std::string::npos);
  // The valid request after the bad ones runs to the end (max_tokens default 3).
  auto last = conn->wait_frame(6);
  REQUIRE(last);
  auto done = json::parse(last->payload);
  CHECK(done["done"] == true);
  CHECK(done["usage"]["completion_tokens"] == 3);
  self->send_exit(client, caf::exit_reason::user_shutdown);
}
