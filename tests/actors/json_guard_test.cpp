// The guards between client JSON and the parser: the depth limit runs on raw
// bytes before a tree exists, values quoted in errors never throw on invalid
// UTF-8, and the prompt limits refuse oversized requests before tokenising.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/client_protocol.hpp"
#include "actors/json_guard.hpp"

using namespace tessera::actors;
using json = nlohmann::json;

namespace {

std::string refusal(const std::string& text, const request_limits& limits = {}) {
  try {
    parse_generate_request(text, 16, limits);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string nested(std::size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

}  // namespace

TEST_CASE("json_depth_problem counts arrays and objects and names the limit and the byte", "[json_guard]") {
  CHECK_FALSE(json_depth_problem(nested(64), 64));
  const auto deep = json_depth_problem(nested(65), 64);
  REQUIRE(deep);
  CHECK(*deep == "JSON nests deeper than 64 levels (limits.max_json_depth) at byte 64");
  CHECK(json_depth_problem(R"({"a": {"b": {"c": 1}}})", 2));
  CHECK_FALSE(json_depth_problem(R"({"a": {"b": {"c": 1}}})", 3));
}

TEST_CASE("brackets inside strings and escaped quotes do not count as nesting", "[json_guard]") {
  CHECK_FALSE(json_depth_problem(R"({"prompt": "[[[[[[[[[[{{{{{{{{"})", 1));
  CHECK_FALSE(json_depth_problem(R"({"prompt": "say \"[[[[\" and \\"})", 1));
  CHECK(json_depth_problem(R"({"prompt": "\\", "x": [[1]]})", 2));
}

TEST_CASE("a prompt_ids or stop array nested 60,000 deep is refused naming the depth limit", "[json_guard]") {
  for (const char* field : {"prompt_ids", "stop"}) {
    const std::string frame = std::string(R"({"prompt": "x", ")") + field + "\": " + nested(60000) + "}";
    INFO(field);
    CHECK_THAT(refusal(frame), Catch::Contains("limits.max_json_depth"));
  }
}

TEST_CASE("curly quotes give a malformed-JSON error that encodes as valid JSON", "[json_guard]") {
  const std::string why = refusal("{\"prompt\": \xe2\x80\x9chello\xe2\x80\x9d}");
  CHECK_THAT(why, Catch::StartsWith("malformed JSON"));
  // The error frame the client gets parses back (dump() never threw on the quoted bytes).
  const auto frame = json::parse(encode(error_event{why, "bad_request"}));
  CHECK(frame["error"].get<std::string>() == why);
}

TEST_CASE("frames with invalid UTF-8 become error frames, never exceptions", "[json_guard]") {
  const std::string bad_key = "{\"\xff\xfe\": 1}";
  const std::string why = refusal(bad_key);
  CHECK_THAT(why, Catch::Contains("\\xff\\xfe") || Catch::StartsWith("malformed JSON"));
  CHECK_NOTHROW(json::parse(encode(error_event{why, "bad_request"})));
  CHECK_NOTHROW(json::parse(encode(token_event{7, "\xc3"})));  // half a character from a stream
}

TEST_CASE("a prompt over max_prompt_bytes is refused before tokenising, naming size and limit", "[json_guard]") {
  request_limits lim;
  lim.max_prompt_bytes = 10;
  CHECK(refusal(R"({"prompt": "0123456789"})", lim).empty());
  CHECK(refusal(R"({"prompt": "0123456789a"})", lim) == "prompt is 11 bytes; the limit is 10 (limits.max_prompt_bytes)");
}

TEST_CASE("prompt_ids past the context and oversized stop lists are refused", "[json_guard]") {
  request_limits lim;
  lim.max_prompt_ids = 3;
  CHECK_THAT(refusal(R"({"prompt_ids": [1, 2, 3, 4]})", lim), Catch::Contains("holds 4 ids; the limit is 3"));
  CHECK_THAT(refusal(R"({"prompt": "x", "stop": [)" + std::string(R"("a",)") + R"("a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a"]})"),
             Catch::Contains("holds 17 strings; the limit is 16"));
  CHECK_THAT(refusal(R"({"prompt": "x", "stop": ")" + std::string(2000, 's') + "\"}"),
             Catch::Contains("2000 bytes; the limit is 1024"));
}

TEST_CASE("json_excerpt cuts long values at a character boundary", "[json_guard]") {
  CHECK(json_excerpt(json("abc")) == "\"abc\"");
  const auto cut = json_excerpt(json(std::string(100, 'x')), 10);
  CHECK(cut == "\"xxxxxxxxx...");
  const auto utf8 = json_excerpt(json("\xc3\xa9\xc3\xa9\xc3\xa9"), 4);  // "ééé": never half of é
  CHECK(utf8 == "\"\xc3\xa9...");
}
