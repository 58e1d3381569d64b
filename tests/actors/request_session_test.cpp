// request_session without actors: prompt checks, sampling per token index,
// stop conditions, and the final usage and timings.
#include <catch2/catch.hpp>

#include "actors/request_session.hpp"
#include "model/byte_tokenizer.hpp"

using namespace tessera::actors;
using clock_type = request_session::clock_type;

namespace {

auto bytes() { return std::make_shared<tessera::model::byte_tokenizer>(); }  // ids 0..255, BOS 256, EOS 257

generate_params prompt(std::string text, uint32_t max_tokens = 8) {
  generate_params p;
  p.prompt = std::move(text);
  p.max_tokens = max_tokens;
  return p;
}

}  // namespace

TEST_CASE("a prompt is refused with the bad value named") {
  generate_params ids;
  ids.prompt_ids = {65, 300};
  auto bad = request_session(ids, bytes(), 64).start();
  REQUIRE(bad);
  CHECK(bad->first == errc::bad_request);
  CHECK(bad->second == "prompt_ids: token 300 outside the vocabulary of 259");
  auto long_prompt = request_session(prompt(std::string(70, 'x')), bytes(), 64).start();
  REQUIRE(long_prompt);
  CHECK(long_prompt->first == errc::prompt_too_long);
  CHECK(long_prompt->second == "prompt is 71 tokens; the context holds 64 (prompt + reply)");
  CHECK_FALSE(request_session(prompt("ab"), bytes(), 64).start());
}

TEST_CASE("greedy steps ask for the argmax; seeded steps draw by token index") {
  request_session greedy(prompt("ab"), bytes(), 64);
  REQUIRE_FALSE(greedy.start());
  CHECK(greedy.next_sampling().top_k == 1);
  auto p = prompt("ab");
  p.temperature = 0.7f;
  p.seed = 9;
  request_session seeded(p, bytes(), 64);
  REQUIRE_FALSE(seeded.start());
  CHECK(seeded.next_sampling().random == seeded_uniform(9, 0));
  seeded.add_token('c', clock_type::now());
  CHECK(seeded.next_sampling().random == seeded_uniform(9, 1));
  CHECK(seeded.next_sampling().temperature == Approx(0.7f));
}

TEST_CASE("the reply ends at max_tokens, a stop token or a stop string") {
  request_session s(prompt("ab", 2), bytes(), 64);
  REQUIRE_FALSE(s.start());
  auto t0 = clock_type::now();
  auto first = s.add_token('x', t0);
  CHECK(first.emit);
  CHECK(first.text == "x");
  CHECK(first.finish.empty());
  CHECK(s.add_token('y', t0 + std::chrono::milliseconds(10)).finish == "length");
  auto done = s.finish("length", 3, t0 + std::chrono::milliseconds(20));
  CHECK(done.prompt_tokens == 3);  // BOS a b
  CHECK(done.completion_tokens == 2);
  CHECK(done.timings.per_token_ms == Approx(10.0));
  CHECK(done.timings.stages == 3);

  request_session eos(prompt("ab"), bytes(), 64);
  REQUIRE_FALSE(eos.start());
  auto end = eos.add_token(257, clock_type::now());
  CHECK_FALSE(end.emit);  // the stop token is not part of the reply
  CHECK(end.finish == "stop");
  CHECK(eos.generated() == 0);

  auto p = prompt("ab");
  p.stop = {"yz"};
  request_session stop(p, bytes(), 64);
  REQUIRE_FALSE(stop.start());
  CHECK(stop.add_token('x', clock_type::now()).text == "x");
  CHECK(stop.add_token('y', clock_type::now()).text.empty());  // could start "yz": held back
  auto hit = stop.add_token('z', clock_type::now());
  CHECK(hit.finish == "stop");
  CHECK(hit.text.empty());
  CHECK(stop.finish("stop", 1, clock_type::now()).text.empty());  // nothing past the stop
}
