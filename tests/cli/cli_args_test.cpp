#include <catch2/catch.hpp>

#include "app/cli_args.hpp"

using tessera::app::cli_args;
using tessera::app::usage_error;

TEST_CASE("flags take values in both spellings and positionals are kept in order") {
  cli_args a({"in.onnx", "--out", "dir", "--seed=7", "--json", "more"}, {"--out", "--seed"}, {"--json"});
  CHECK(a.require("--out") == "dir");
  CHECK(a.get_int("--seed", 0) == 7);
  CHECK(a.has("--json"));
  CHECK_FALSE(a.has("--stages"));
  REQUIRE(a.positionals().size() == 2);
  CHECK(a.positionals()[0] == "in.onnx");
  CHECK(a.positionals()[1] == "more");
}

TEST_CASE("an unknown flag is an error that names it") {
  try {
    cli_args({"--bogus", "1"}, {"--out"});
    FAIL("expected usage_error");
  } catch (const usage_error& e) {
    CHECK(std::string(e.what()).find("--bogus") != std::string::npos);
  }
}

TEST_CASE("a bad number names the flag and the value") {
  cli_args a({"--seed", "12x"}, {"--seed"});
  try {
    a.get_int("--seed", 0);
    FAIL("expected usage_error");
  } catch (const usage_error& e) {
    CHECK(std::string(e.what()).find("12x") != std::string::npos);
    CHECK(std::string(e.what()).find("--seed") != std::string::npos);
  }
  CHECK_THROWS_AS(cli_args({"--out"}, {"--out"}), usage_error);
  CHECK_THROWS_AS(a.require("--out"), usage_error);
}
