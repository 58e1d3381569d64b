// Spot checks of stage steps (actors/spot_check.hpp): which hop is checked,
// how inputs of earlier positions join a step's, and when two holders agree.
#include <cstring>

#include <catch2/catch.hpp>

#include "actors/spot_check.hpp"

using namespace tessera::actors;

namespace {

tensor_blob floats(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  tensor_blob t;
  t.name = name;
  t.dtype = 1;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

check_candidate hop(bool verifier, bool replay, bool is_new) { return {verifier, replay, is_new}; }

}  // namespace

TEST_CASE("every new worker's hop is checked, and only hops with a verifier that can replay") {
  auto never = [] { return 0.99; };
  using hops = std::vector<uint32_t>;
  CHECK(choose_check_hops({hop(true, true, false), hop(true, true, true)}, 0.0, never) == hops{1});
  CHECK(choose_check_hops({hop(true, true, true), hop(true, true, true)}, 0.0, never) == hops{0, 1});
  CHECK(choose_check_hops({hop(false, true, true), hop(true, false, true)}, 0.0, never).empty());
  CHECK(choose_check_hops({hop(true, true, false), hop(true, true, false)}, 0.5, never).empty());
  auto always = [] { return 0.0; };
  CHECK(choose_check_hops({hop(false, true, false), hop(true, true, false)}, 0.01, always) == hops{1});
  CHECK(choose_check_hops({hop(true, true, false)}, 0.0, always).empty());  // rate 0: only new workers
}

TEST_CASE("the rate is the share of steps checked") {
  uint64_t state = 12345;
  auto draw = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  int checked = 0;
  for (int i = 0; i < 100000; ++i)
    checked += !choose_check_hops({hop(true, true, false)}, 0.1, draw).empty();
  CHECK(checked > 9500);
  CHECK(checked < 10500);
}

TEST_CASE("a ledger counts a worker new until it passed first_steps checks") {
  spot_check_ledger ledger({0.0, 2, 1e-3});
  CHECK(ledger.is_new(7));
  ledger.passed(7);
  CHECK(ledger.is_new(7));
  ledger.passed(7);
  CHECK_FALSE(ledger.is_new(7));
  CHECK(ledger.is_new(8));
  CHECK(ledger.passes() == 2);
}

TEST_CASE("kept inputs and a step's inputs join along the sequence axis") {
  std::string error;
  auto joined = concat_positions({floats("h", {1, 2, 2}, {1, 2, 3, 4})}, {floats("h", {1, 1, 2}, {5, 6})}, error);
  REQUIRE(joined);
  CHECK((*joined)[0].shape == std::vector<int64_t>{1, 3, 2});
  CHECK((*joined)[0].data == floats("h", {1, 3, 2}, {1, 2, 3, 4, 5, 6}).data);
  CHECK_FALSE(concat_positions({floats("h", {1, 2, 2}, {1, 2, 3, 4})}, {floats("h", {1, 1, 3}, {5, 6, 7})}, error));
  CHECK(error.find("h [1,2,2]") != std::string::npos);
  CHECK_FALSE(concat_positions({floats("h", {1, 1, 2}, {1, 2})}, {floats("g", {1, 1, 2}, {5, 6})}, error));
}

TEST_CASE("a checked step's hidden state is compared with the verifier's last positions") {
  auto verifier = floats("h", {1, 3, 2}, {9, 9, 9, 9, 2.0f, -4.0f});
  auto same = compare_hidden({floats("h", {1, 1, 2}, {2.0f, -4.0f})}, {verifier}, 1, 2e-3);
  CHECK(same.agree);
  CHECK(same.difference == 0);
  // within tolerance: a backend's rounding
  CHECK(compare_hidden({floats("h", {1, 1, 2}, {2.001f, -4.0f})}, {verifier}, 1, 2e-3).agree);
  // the `scaled` rogue: every value times 1.01
  auto scaled = compare_hidden({floats("h", {1, 1, 2}, {2.02f, -4.04f})}, {verifier}, 1, 2e-3);
  CHECK_FALSE(scaled.agree);
  CHECK(scaled.difference == Approx(0.01).epsilon(0.01));
  CHECK(scaled.detail.find("tolerance") != std::string::npos);
  // wrong shape, and a verifier with fewer positions than the step
  CHECK_FALSE(compare_hidden({floats("h", {1, 2, 2}, {0, 0, 2, -4})}, {verifier}, 1, 2e-3).agree);
  CHECK_FALSE(compare_hidden({floats("h", {1, 1, 2}, {2, -4})}, {floats("h", {1, 1, 2}, {2, -4})}, 2, 2e-3).agree);
}

TEST_CASE("the last stage's tokens must be equal") {
  CHECK(compare_tokens({42}, {42}).agree);
  auto pwned = compare_tokens({80}, {42});
  CHECK_FALSE(pwned.agree);
  CHECK(pwned.detail == "token ids {80} where a second holder drew {42}");
}
