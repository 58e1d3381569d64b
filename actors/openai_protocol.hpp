// The OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions) in
// one pure module (no CAF, no sockets), beside client_protocol: a request body
// parsed into generate_params plus the API's own options, and the request's
// events encoded as OpenAI's JSON objects and Server-Sent Events. The HTTP
// client actor (openai_client_actor.cpp) calls these.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/client_protocol.hpp"

namespace tessera::actors {

enum class api_kind { chat, completion };

// A refused request: HTTP status and OpenAI's error fields.
struct api_error : std::runtime_error {
  api_error(int status, std::string message, std::string type, std::string param, std::string code)
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string type;   // "invalid_request_error", "server_error", ...
  std::string param;  // the offending parameter ("" for none)
  std::string code;   // "model_not_found", "unsupported_parameter", ... ("" for none)
};

struct api_message {
  std::string role;
  std::string content;
};

struct api_request {
  api_kind kind = api_kind::chat;
  std::string model;
  std::vector<api_message> messages;  // chat: to be formatted with the chat template
  generate_params params;             // completion: params.prompt holds the prompt
  uint32_t n = 1;
  bool stream = false;
  bool include_usage = false;
  std::string user;
};

// Parses a request body. `served_model` is the model this node serves (a
// request naming another gets 404). Throws api_error naming the parameter for
// malformed JSON, wrong types, out-of-range values, unknown parameters and
// parameters Tessera does not implement (tools, logit_bias, ...), and for
// anything over `limits` (nesting, prompt or message bytes, token ids).
api_request parse_api_request(api_kind kind, const std::string& body, const std::string& served_model,
                              uint32_t max_tokens_default, const request_limits& limits = {});

// {"error": {"message", "type", "param", "code"}} (null for empty param/code).
std::string encode_api_error(const api_error& e);

// What every chunk and response of one request shares.
struct api_context {
  api_kind kind = api_kind::chat;
  std::string id;  // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;
  std::string model;
};

// One SSE event ("data: {...}\n\n") carrying a text delta for choice `index`.
// For chat, `first` adds the role (the first delta of a choice).
std::string sse_delta(const api_context& c, uint32_t index, const std::string& text, bool first);
// The chunk that ends choice `index` with its finish_reason ("stop"/"length").
std::string sse_finish(const api_context& c, uint32_t index, const std::string& finish_reason);
// The usage chunk (empty choices), sent only with stream_options.include_usage.
// `cached_tokens`: prompt tokens served from the prefix cache (usage.prompt_tokens_details).
std::string sse_usage(const api_context& c, uint64_t prompt_tokens, uint64_t completion_tokens,
                      uint64_t cached_tokens = 0);
// "data: [DONE]\n\n".
std::string sse_done();
// An SSE comment line (": text\n\n") that keeps a waiting stream alive.
std::string sse_comment(const std::string& text);
// An error in the middle of a stream: "data: {"error": ...}\n\n".
std::string sse_error(const api_error& e);

struct api_choice {
  std::string text;
  std::string finish_reason;
};

// The non-streaming response object (chat.completion or text_completion).
std::string encode_api_response(const api_context& c, const std::vector<api_choice>& choices,
                                uint64_t prompt_tokens, uint64_t completion_tokens, uint64_t cached_tokens = 0);

// The HTTP status for a request's error_event code (bad_request -> 400, ...).
int http_status_for(const std::string& tessera_code);

}  // namespace tessera::actors
