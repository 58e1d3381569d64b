// The /ws/generate protocol without actors or sockets: request parsing (every
// field, each refusal naming the field) and the frames events become.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/client_protocol.hpp"

using namespace tessera::actors;
using json = nlohmann::json;

namespace {

std::string refusal(const std::string& text) {
  try {
    parse_generate_request(text, 16);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a request with every field is parsed into generate_params") {
  auto p = parse_generate_request(
      R"({"prompt": "hi", "prompt_ids": [1, 2], "max_tokens": 5, "temperature": 0.5, "top_k": 40,
          "top_p": 0.9, "seed": 7, "stop": ["\n", "END"]})",
      16);
  CHECK(p.prompt == "hi");
  CHECK(p.prompt_ids == std::vector<int64_t>{1, 2});
  CHECK(p.max_tokens == 5);
  CHECK(p.temperature == Approx(0.5f));
  CHECK(p.top_k == 40);
  CHECK(p.top_p == Approx(0.9f));
  CHECK(p.seed == 7);
  CHECK(p.stop == std::vector<std::string>{"\n", "END"});
}

TEST_CASE("omitted fields take their defaults, max_tokens the node's") {
  auto p = parse_generate_request(R"({"prompt": "hi", "stop": "x"})", 16);
  CHECK(p.max_tokens == 16);
  CHECK(p.temperature == 0.0f);
  CHECK(p.top_p == 1.0f);
  CHECK(p.stop == std::vector<std::string>{"x"});
}

TEST_CASE("a request uses the prefix cache unless it sets cache to false") {
  CHECK(parse_generate_request(R"({"prompt": "hi"})", 16).cache);
  CHECK_FALSE(parse_generate_request(R"({"prompt": "hi", "cache": false})", 16).cache);
  CHECK(parse_generate_request(R"({"prompt": "hi"})", 16).cache_salt.empty());  // no client sets the salt
  CHECK(refusal(R"({"prompt": "a", "cache": 0})") == "field 'cache' must be true or false, got 0");
}

TEST_CASE("each refusal names the field and the bad value") {
  CHECK(refusal("{not json").rfind("malformed JSON", 0) == 0);
  CHECK(refusal("[1]") == "request must be a JSON object");
  CHECK(refusal(R"({"max_tokens": 3})") == "missing field 'prompt' (or 'prompt_ids')");
  CHECK(refusal(R"({"prompt": "a", "tempo": 1})") == "unknown field 'tempo'");
  CHECK(refusal(R"({"prompt": 3})") == "field 'prompt' must be a string");
  CHECK(refusal(R"({"prompt_ids": [1, "x"]})") == "field 'prompt_ids' holds a non-integer: \"x\"");
  CHECK(refusal(R"({"prompt": "a", "max_tokens": 1.5})") == "field 'max_tokens' must be an integer");
  CHECK(refusal(R"({"prompt": "a", "max_tokens": 0})") == "field 'max_tokens' = 0 is outside [1.0, 1048576.0]");
  CHECK(refusal(R"({"prompt": "a", "top_p": 2})") == "field 'top_p' = 2 is outside [0.0, 1.0]");
  CHECK(refusal(R"({"prompt": "a", "top_p": 0})") == "field 'top_p' must be > 0");
  CHECK(refusal(R"({"prompt": "a", "stop": [1]})") == "field 'stop' holds a non-string: 1");
  CHECK(refusal(R"({"prompt": "a", "stop": 1})") == "field 'stop' must be a string or an array of strings");
}

TEST_CASE("events become the frames a client reads") {
  CHECK(json::parse(encode(token_event{72, "H"})) == json{{"token", 72}, {"text", "H"}});
  CHECK(json::parse(encode(status_event{"queued", "waiting"})) == json{{"status", "queued"}, {"reason", "waiting"}});
  CHECK(json::parse(encode(status_event{"running", ""})) == json{{"status", "running"}});
  CHECK(json::parse(encode(error_event{"empty prompt", "bad_request"})) ==
        json{{"error", "empty prompt"}, {"code", "bad_request"}});
  done_event d;
  d.finish_reason = "length";
  d.prompt_tokens = 4;
  d.completion_tokens = 2;
  d.cached_tokens = 3;
  d.timings.decode_steps = 1;
  d.timings.stages = 3;
  auto j = json::parse(encode(d));
  CHECK(j["done"] == true);
  CHECK(j["finish_reason"] == "length");
  CHECK(j["usage"] == json{{"prompt_tokens", 4}, {"completion_tokens", 2}, {"cached_tokens", 3}});
  CHECK(j["timings"]["stages"] == 3);
  CHECK(j["timings"].size() == 12);
  CHECK_FALSE(j.contains("text"));  // nothing held back
  d.text = "!";
  CHECK(json::parse(encode(d))["text"] == "!");
}
