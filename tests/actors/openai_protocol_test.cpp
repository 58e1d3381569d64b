// The OpenAI-compatible API without actors or sockets: request parsing (every
// parameter, each refusal naming it with OpenAI's error shape and status) and
// the chunks, events and responses a request's events become.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/openai_protocol.hpp"

using namespace tessera::actors;
using json = nlohmann::json;

namespace {

api_request chat(const std::string& body) { return parse_api_request(api_kind::chat, body, "m", 16); }

// The error a body is refused with.
api_error refusal(api_kind kind, const std::string& body) {
  try {
    parse_api_request(kind, body, "m", 16);
  } catch (const api_error& e) {
    return e;
  }
  FAIL("accepted: " << body);
  throw;
}

// The JSON object of one "data: {...}\n\n" event.
json event_json(const std::string& event) {
  REQUIRE(event.rfind("data: ", 0) == 0);
  REQUIRE(event.size() > 8);
  REQUIRE(event.substr(event.size() - 2) == "\n\n");
  return json::parse(event.substr(6, event.size() - 8));
}

}  // namespace

TEST_CASE("a chat request with every parameter is parsed") {
  auto r = chat(R"({"model": "m", "messages": [{"role": "system", "content": "be brief"},
                    {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
                    "max_completion_tokens": 5, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7,
                    "stop": ["\n", "END"], "n": 2, "stream": true, "stream_options": {"include_usage": true},
                    "user": "u1", "cache": false})");
  CHECK(r.kind == api_kind::chat);
  CHECK_FALSE(r.params.cache);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].role == "system");
  CHECK(r.messages[1].content == "hi there");
  CHECK(r.params.max_tokens == 5);
  CHECK(r.params.temperature == Approx(0.5f));
  CHECK(r.params.top_p == Approx(0.9f));
  CHECK(r.params.top_k == 40);
  CHECK(r.params.seed == 7);
  CHECK(r.params.stop == std::vector<std::string>{"\n", "END"});
  CHECK(r.n == 2);
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.user == "u1");
}

TEST_CASE("a completion takes a prompt string or token ids, and the node's max_tokens by default") {
  auto r = parse_api_request(api_kind::completion, R"({"model": "m", "prompt": "Once", "stop": "."})", "m", 16);
  CHECK(r.params.prompt == "Once");
  CHECK(r.params.max_tokens == 16);
  CHECK(r.params.stop == std::vector<std::string>{"."});
  CHECK_FALSE(r.stream);
  auto ids = parse_api_request(api_kind::completion, R"({"model": "m", "prompt": [1, 2, 3], "max_tokens": 3})", "m", 16);
  CHECK(ids.params.prompt_ids == std::vector<int64_t>{1, 2, 3});
  CHECK(ids.params.max_tokens == 3);
}

TEST_CASE("unimplemented and unknown parameters are refused by name with 400") {
  for (const char* p : {"tools", "logit_bias", "response_format", "logprobs", "presence_penalty"}) {
    auto e = refusal(api_kind::chat, std::string(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], ")") +
                                         p + R"(": null})");
    CHECK(e.status == 400);
    CHECK(e.param == p);
    CHECK(e.code == "unsupported_parameter");
    CHECK(std::string(e.what()).find(p) != std::string::npos);
  }
  auto e = refusal(api_kind::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "frobnicate": 1})");
  CHECK(e.param == "frobnicate");
  CHECK(e.code == "unknown_parameter");
  // A chat parameter on /v1/completions is unknown there.
  CHECK(refusal(api_kind::completion, R"({"model": "m", "prompt": "x", "messages": []})").param == "messages");
  CHECK(refusal(api_kind::chat, R"({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                    "stream_options": {"chunk": 1}, "stream": true})")
            .param == "stream_options.chunk");
}

TEST_CASE("bad values are refused naming the parameter and the value") {
  const std::string msgs = R"("messages": [{"role": "user", "content": "x"}])";
  auto e = refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "temperature": 3})");
  CHECK(e.param == "temperature");
  CHECK(std::string(e.what()).find("3") != std::string::npos);
  CHECK(refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "max_tokens": 0})").param == "max_tokens");
  CHECK(refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "n": 1.5})").param == "n");
  CHECK(refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "stream": "yes"})").param == "stream");
  CHECK(refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "stop": [1]})").param == "stop");
  CHECK(refusal(api_kind::chat, R"({"model": "m", )" + msgs + R"(, "stream_options": {"include_usage": true}})")
            .param == "stream_options");
  CHECK(refusal(api_kind::chat, R"({"model": "m", "messages": [{"role": "robot", "content": "x"}]})").param ==
        "messages[0].role");
  CHECK(refusal(api_kind::chat, R"({"model": "m", "messages": []})").param == "messages");
  CHECK(refusal(api_kind::chat, R"({"messages": [{"role": "user", "content": "x"}]})").param == "model");
  CHECK(refusal(api_kind::completion, R"({"model": "m"})").param == "prompt");
  CHECK(refusal(api_kind::chat, "{not json").status == 400);
}

TEST_CASE("another model is 404 model_not_found") {
  auto e = refusal(api_kind::chat, R"({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})");
  CHECK(e.status == 404);
  CHECK(e.code == "model_not_found");
  CHECK(std::string(e.what()).find("gpt-4o") != std::string::npos);
}

TEST_CASE("errors have OpenAI's shape, null for an empty param or code") {
  auto j = json::parse(encode_api_error(api_error(400, "bad 'n'", "invalid_request_error", "n", "")));
  CHECK(j["error"]["message"] == "bad 'n'");
  CHECK(j["error"]["type"] == "invalid_request_error");
  CHECK(j["error"]["param"] == "n");
  CHECK(j["error"]["code"].is_null());
  CHECK(http_status_for("bad_request") == 400);
  CHECK(http_status_for("prompt_too_long") == 400);
  CHECK(http_status_for("no_capacity") == 503);
  CHECK(http_status_for("worker_error") == 500);
}

TEST_CASE("chat chunks: the first delta carries the role, the last the finish_reason, then [DONE]") {
  api_context c{api_kind::chat, "chatcmpl-1", 1700000000, "m"};
  auto first = event_json(sse_delta(c, 0, "", true));
  CHECK(first["object"] == "chat.completion.chunk");
  CHECK(first["id"] == "chatcmpl-1");
  CHECK(first["model"] == "m");
  CHECK(first["choices"][0]["delta"]["role"] == "assistant");
  CHECK(first["choices"][0]["finish_reason"].is_null());
  auto next = event_json(sse_delta(c, 1, "Hello", false));
  CHECK(next["choices"][0]["index"] == 1);
  CHECK(next["choices"][0]["delta"]["content"] == "Hello");
  CHECK_FALSE(next["choices"][0]["delta"].contains("role"));
  auto last = event_json(sse_finish(c, 0, "length"));
  CHECK(last["choices"][0]["finish_reason"] == "length");
  CHECK(last["choices"][0]["delta"].empty());
  auto usage = event_json(sse_usage(c, 5, 7));
  CHECK(usage["choices"].empty());
  CHECK(usage["usage"]["total_tokens"] == 12);
  CHECK(usage["usage"]["prompt_tokens_details"]["cached_tokens"] == 0);
  CHECK(event_json(sse_usage(c, 5, 7, 4))["usage"]["prompt_tokens_details"]["cached_tokens"] == 4);
  CHECK(sse_done() == "data: [DONE]\n\n");
  CHECK(sse_comment("queued — the pool\nlacks 63.7 MB") == ": queued — the pool lacks 63.7 MB\n\n");
}

TEST_CASE("completion chunks and responses carry text, chat responses a message") {
  api_context c{api_kind::completion, "cmpl-2", 1, "m"};
  auto chunk = event_json(sse_delta(c, 0, "abc", true));
  CHECK(chunk["object"] == "text_completion");
  CHECK(chunk["choices"][0]["text"] == "abc");
  auto done = json::parse(encode_api_response(c, {{"abc", "stop"}}, 3, 1));
  CHECK(done["object"] == "text_completion");
  CHECK(done["choices"][0]["text"] == "abc");
  CHECK(done["choices"][0]["finish_reason"] == "stop");
  CHECK(done["usage"]["prompt_tokens"] == 3);
  api_context chat_ctx{api_kind::chat, "chatcmpl-3", 1, "m"};
  auto reply = json::parse(encode_api_response(chat_ctx, {{"hi", "stop"}, {"yo", "length"}}, 4, 2));
  CHECK(reply["object"] == "chat.completion");
  CHECK(reply["choices"][1]["index"] == 1);
  CHECK(reply["choices"][1]["message"]["role"] == "assistant");
  CHECK(reply["choices"][1]["message"]["content"] == "yo");
  CHECK(reply["usage"]["completion_tokens"] == 2);
  auto cached = json::parse(encode_api_response(chat_ctx, {{"hi", "stop"}}, 40, 2, 32));
  CHECK(cached["usage"]["prompt_tokens_details"]["cached_tokens"] == 32);
}
