// The request actor's prefix cache hooks against a fake planner, a fake prefix
// cache and a fake one-stage worker: a hit starts the prefill at the matched
// position with the fork; a miss (worker error 7) forgets the source and
// re-runs the prefill from position 0 with the same reply; "cache": false asks
// nothing; a finished request keeps its KV and inserts what it holds.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/spawn.hpp"
#include "model/tokenizer/byte_tokenizer.hpp"

using namespace tessera::actors;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

using log_atom = caf::atom_constant<caf::atom("log")>;  // test -> fakes: what did you see?

// What the fakes saw, as numbers: one row per event.
struct seen {
  std::vector<std::vector<int64_t>> rows;
};

// One stage: next token = (last input token + 1) mod 256. A fork of `missing`
// answers error 7 (the worker does not hold it). Logs steps (0, position,
// fork_from, fork_length, token count) and releases (1, sequence, keep).
caf::behavior fake_stage(caf::stateful_actor<seen>* self, uint64_t missing) {
  return {
      [=](stage_step& s) {
        uint64_t fork = s.fork_from.empty() ? 0 : s.fork_from[0];
        self->state.rows.push_back({0, s.position, static_cast<int64_t>(fork), s.fork_length,
                                    static_cast<int64_t>(s.token_ids.size())});
        if (fork != 0 && fork == missing) {
          self->send(s.reply_to, step_failed{s.request_id, s.sequence_id, s.step, 0, 1,
                                             "worker error 7: cache miss", 7});
          return;
        }
        self->send(s.reply_to, step_result{s.request_id, s.sequence_id, s.step, {(s.token_ids.back() + 1) % 256}, 1.0, 1});
      },
      [=](release_sequence& r) { self->state.rows.push_back({1, static_cast<int64_t>(r.sequence_id), r.keep}); },
      [=](log_atom) { return self->state.rows; },
  };
}

// A prefix cache that matches 16 positions from sequence `source`. Logs
// lookups (0, token count, max_positions), inserts (1, sequence, token count)
// and forgets (2, sequence, worker).
caf::behavior fake_cache(caf::stateful_actor<seen>* self, uint64_t source) {
  return {
      [=](cache_lookup& q) {
        self->state.rows.push_back({0, static_cast<int64_t>(q.tokens.size()), q.max_positions});
        return cache_match{16, {source}};
      },
      [=](cache_insert& in) {
        self->state.rows.push_back({1, static_cast<int64_t>(in.sequence_id), static_cast<int64_t>(in.tokens.size())});
      },
      [=](cache_forget& f) {
        self->state.rows.push_back({2, static_cast<int64_t>(f.sequence_id), static_cast<int64_t>(f.worker_id)});
      },
      [=](log_atom) { return self->state.rows; },
  };
}

caf::behavior fake_planner(caf::event_based_actor*, caf::actor stage) {
  return {[=](subscribe_atom, request_hdl&) {},
          [=](get_route_atom) -> route_reply {
            route r;
            r.plan_version = 1;
            r.hops.push_back({caf::actor_cast<worker_hdl>(stage), 1, "s", 0, 4});
            return {true, r, ""};
          }};
}

struct cache_fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<const tessera::model::tokenizer> tok = std::make_shared<tessera::model::byte_tokenizer>();

  struct outcome {
    std::vector<int64_t> tokens;
    done_event done;
    std::vector<std::vector<int64_t>> stage, cache;
  };

  // 20 prompt tokens 10..29, 3 greedy tokens, through a stage that misses forks of `missing`.
  outcome run(bool cache_on, uint64_t source, uint64_t missing) {
    auto stage = sys.spawn(fake_stage, missing);
    auto cache = sys.spawn(fake_cache, source);
    auto planner = sys.spawn(fake_planner, stage);
    request_options opts;
    opts.config.cache_block_tokens = 16;
    opts.cache = caf::actor_cast<cache_hdl>(cache);
    generate_params p;
    for (int64_t t = 10; t < 30; ++t)
      p.prompt_ids.push_back(t);
    p.max_tokens = 3;
    p.cache = cache_on;
    auto r = spawn_request_actor(sys, caf::actor_cast<client_hdl>(self), 42, p, caf::actor_cast<planner_hdl>(planner),
                                 tok, opts);
    self->monitor(r);
    outcome out;
    for (bool down = false; !down;)
      self->receive([&](token_event& e) { out.tokens.push_back(e.id); }, [&](status_event&) {},
                    [&](done_event& d) { out.done = d; }, [&](error_event& e) { FAIL(e.message); },
                    [&](caf::down_msg&) { down = true; },
                    caf::after(std::chrono::seconds(10)) >> [] { FAIL("the request did not end"); });
    auto log = [&](const caf::actor& a) {
      std::vector<std::vector<int64_t>> rows;
      self->request(a, std::chrono::seconds(5), log_atom::value)
          .receive([&](std::vector<std::vector<int64_t>>& r) { rows = r; }, [](caf::error&) { FAIL("no log"); });
      return rows;
    };
    // releases and inserts were sent before the request ended; one more round trip to each drains them
    out.stage = log(stage);
    out.cache = log(cache);
    for (auto& a : {stage, cache, planner})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    return out;
  }
};

const std::vector<int64_t> reply{30, 31, 32};

}  // namespace

TEST_CASE_METHOD(cache_fixture, "a cache hit sends the prefill from the matched position with the fork, and the reply is the same") {
  auto o = run(true, 99, 0);
  CHECK(o.tokens == reply);
  CHECK(o.done.cached_tokens == 16);
  REQUIRE(o.stage.size() >= 2);
  CHECK(o.stage[0] == std::vector<int64_t>{0, 16, 99, 16, 4});  // position 16, fork 99 x 16, tokens 16..19
  CHECK(o.stage[1] == std::vector<int64_t>{0, 20, 0, 0, 1});    // then decoding
  CHECK(o.stage.back() == std::vector<int64_t>{1, 42, 1});      // kept at the end
  REQUIRE(o.cache.size() == 3);
  CHECK(o.cache[0] == std::vector<int64_t>{0, 20, 19});  // lookup: 20 tokens, at most 19 forked
  CHECK(o.cache[1] == std::vector<int64_t>{1, 42, 20});  // after the prefill: the prompt is shareable
  CHECK(o.cache[2] == std::vector<int64_t>{1, 42, 22});  // at the end: prompt + reply less the last token
}

TEST_CASE_METHOD(cache_fixture, "a cache miss forgets the source on that worker and re-runs the prefill from 0: same reply") {
  auto o = run(true, 99, 99);
  CHECK(o.tokens == reply);
  CHECK(o.done.cached_tokens == 0);
  REQUIRE(o.stage.size() >= 2);
  CHECK(o.stage[0] == std::vector<int64_t>{0, 16, 99, 16, 4});
  CHECK(o.stage[1] == std::vector<int64_t>{0, 0, 0, 0, 20});  // the whole prompt, no fork
  REQUIRE(o.cache.size() >= 2);
  CHECK(o.cache[1] == std::vector<int64_t>{2, 99, 1});  // forget sequence 99 on worker 1
  CHECK(std::count(o.cache.begin(), o.cache.end(), std::vector<int64_t>{0, 20, 19}) == 1);  // asked once
}

TEST_CASE_METHOD(cache_fixture, "a request with the cache off asks it nothing and releases without keeping") {
  auto o = run(false, 99, 0);
  CHECK(o.tokens == reply);
  CHECK(o.done.cached_tokens == 0);
  CHECK(o.cache.empty());
  REQUIRE(!o.stage.empty());
  CHECK(o.stage[0] == std::vector<int64_t>{0, 0, 0, 0, 20});
  CHECK(o.stage.back() == std::vector<int64_t>{1, 42, 0});
}
