#include "actors/openai_protocol.hpp"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "actors/json_guard.hpp"

namespace tessera::actors {

namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return dump_json(j); }

[[noreturn]] void invalid(const std::string& param, const std::string& message, const std::string& code = "") {
  throw api_error(400, message, "invalid_request_error", param, code);
}

double number_in(const std::string& key, const json& v, double lo, double hi) {
  if (!v.is_number())
    invalid(key, "'" + key + "' must be a number, got " + json_excerpt(v));
  double x = v.get<double>();
  if (x < lo || x > hi)
    invalid(key, "'" + key + "' = " + json_excerpt(v) + " is outside [" + dump(json(lo)) + ", " + dump(json(hi)) + "]");
  return x;
}

int64_t integer_in(const std::string& key, const json& v, double lo, double hi) {
  if (!v.is_number_integer())
    invalid(key, "'" + key + "' must be an integer, got " + json_excerpt(v));
  return static_cast<int64_t>(number_in(key, v, lo, hi));
}

bool boolean(const std::string& key, const json& v) {
  if (!v.is_boolean())
    invalid(key, "'" + key + "' must be a boolean, got " + json_excerpt(v));
  return v.get<bool>();
}

// Message content: a string, or OpenAI's list of {"type": "text", "text"} parts.
std::string message_content(const json& v, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  if (v.is_string())
    return v.get<std::string>();
  if (!v.is_array())
    invalid(where, "'" + where + "' must be a string or a list of text parts");
  std::string text;
  for (auto& part : v) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      invalid(where, "'" + where + "' holds a part that is not {\"type\": \"text\", \"text\": ...}: " + json_excerpt(part));
    text += part["text"].get<std::string>();
  }
  return text;
}

void read_messages(const json& v, api_request& r) {
  if (!v.is_array() || v.empty())
    invalid("messages", "'messages' must be a non-empty array");
  for (size_t i = 0; i < v.size(); ++i) {
    const auto& m = v[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object())
      invalid(where, "'" + where + "' must be an object");
    for (auto& [key, _] : m.items())
      if (key != "role" && key != "content" && key != "name")
        invalid(where + "." + key, "'" + where + "." + key + "' is not supported by Tessera", "unsupported_parameter");
    if (!m.contains("role") || !m["role"].is_string())
      invalid(where + ".role", "'" + where + ".role' must be a string");
    const auto role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "developer")
      invalid(where + ".role", "'" + where + ".role' = \"" + role + "\" is not system, developer, user or assistant");
    if (!m.contains("content"))
      invalid(where + ".content", "'" + where + ".content' is missing");
    r.messages.push_back({role == "developer" ? "system" : role, message_content(m["content"], i)});
  }
}

void read_prompt(const json& v, api_request& r, const request_limits& lim) {
  if (v.is_string()) {
    const auto problem = prompt_size_problem(v.get_ref<const std::string&>().size(), lim);
    if (!problem.empty())
      invalid("prompt", problem);
    r.params.prompt = v.get<std::string>();
    return;
  }
  if (v.is_array() && v.size() > lim.max_prompt_ids)
    invalid("prompt", "'prompt' holds " + std::to_string(v.size()) + " token ids; the limit is " +
                          std::to_string(lim.max_prompt_ids) + " (model.context)");
  if (v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number_integer(); })) {
    for (auto& id : v)
      r.params.prompt_ids.push_back(id.get<int64_t>());
    return;
  }
  invalid("prompt", "'prompt' must be a string or an array of token ids (one prompt per request)");
}

void read_stop(const json& v, api_request& r) {
  if (v.is_null())
    return;
  if (v.is_string()) {
    r.params.stop.push_back(v.get<std::string>());
    return;
  }
  if (!v.is_array() || v.size() > 4)
    invalid("stop", "'stop' must be a string or an array of at most 4 strings");
  for (auto& s : v) {
    if (!s.is_string() || s.get<std::string>().empty())
      invalid("stop", "'stop' holds something other than a non-empty string: " + json_excerpt(s));
    r.params.stop.push_back(s.get<std::string>());
  }
}

void read_stream_options(const json& v, api_request& r) {
  if (v.is_null())
    return;
  if (!v.is_object())
    invalid("stream_options", "'stream_options' must be an object");
  for (auto& [key, value] : v.items()) {
    if (key != "include_usage")
      invalid("stream_options." + key, "'stream_options." + key + "' is not supported by Tessera",
              "unsupported_parameter");
    r.include_usage = boolean("stream_options.include_usage", value);
  }
}

// Parameters of OpenAI's API that Tessera does not implement: refused by name.
const char* const unsupported[] = {
    "tools",         "tool_choice",       "functions",        "function_call", "logit_bias",
    "logprobs",      "top_logprobs",      "response_format",  "presence_penalty", "frequency_penalty",
    "best_of",       "echo",              "suffix",           "parallel_tool_calls", "audio",
    "modalities",    "prediction",        "reasoning_effort", "service_tier",  "store",
    "metadata",      "web_search_options",
};

}  // namespace

api_request parse_api_request(api_kind kind, const std::string& body, const std::string& served_model,
                              uint32_t max_tokens_default, const request_limits& limits) {
  if (auto deep = json_depth_problem(body, limits.max_json_depth))
    invalid("", *deep);
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    invalid("", "the request body is not valid JSON");
  if (!j.is_object())
    invalid("", "the request body must be a JSON object");
  api_request r;
  r.kind = kind;
  r.params.max_tokens = max_tokens_default;
  bool stream_options_seen = false;
  for (auto& [key, v] : j.items()) {
    const std::string& name = key;  // lambdas may not capture structured bindings in C++17
    if (std::any_of(std::begin(unsupported), std::end(unsupported), [&](const char* u) { return name == u; }))
      invalid(key, "'" + key + "' is not supported by Tessera", "unsupported_parameter");
    if (key == "model") {
      if (!v.is_string())
        invalid(key, "'model' must be a string");
      r.model = v.get<std::string>();
    } else if (key == "messages" && kind == api_kind::chat) {
      read_messages(v, r);
    } else if (key == "prompt" && kind == api_kind::completion) {
      read_prompt(v, r, limits);
    } else if (key == "max_tokens" || (key == "max_completion_tokens" && kind == api_kind::chat)) {
      if (!v.is_null())
        r.params.max_tokens = static_cast<uint32_t>(integer_in(key, v, 1, 1 << 20));
    } else if (key == "temperature") {
      if (!v.is_null())
        r.params.temperature = static_cast<float>(number_in(key, v, 0, 2));
    } else if (key == "top_p") {
      if (!v.is_null())
        r.params.top_p = static_cast<float>(number_in(key, v, 0, 1));
      if (r.params.top_p <= 0)
        invalid(key, "'top_p' must be > 0");
    } else if (key == "top_k") {
      if (!v.is_null())
        r.params.top_k = integer_in(key, v, 0, 1e9);
    } else if (key == "seed") {
      if (!v.is_null())
        r.params.seed = static_cast<uint64_t>(integer_in(key, v, -9.2e18, 9.2e18));
    } else if (key == "stop") {
      read_stop(v, r);
    } else if (key == "n") {
      if (!v.is_null())
        r.n = static_cast<uint32_t>(integer_in(key, v, 1, 16));
    } else if (key == "stream") {
      if (!v.is_null())
        r.stream = boolean(key, v);
    } else if (key == "stream_options") {
      stream_options_seen = !v.is_null();
      read_stream_options(v, r);
    } else if (key == "cache") {  // Tessera extension: false skips the prefix cache
      if (!v.is_null())
        r.params.cache = boolean(key, v);
    } else if (key == "user") {
      if (!v.is_string())
        invalid(key, "'user' must be a string");
      r.user = v.get<std::string>();
    } else {
      invalid(key, "unknown parameter '" + key + "'", "unknown_parameter");
    }
  }
  std::size_t chat_bytes = 0;
  for (const auto& m : r.messages)
    chat_bytes += m.content.size();
  if (const auto problem = prompt_size_problem(chat_bytes, limits); !problem.empty())
    invalid("messages", "the messages' contents are " + std::to_string(chat_bytes) + " bytes; the limit is " +
                            std::to_string(limits.max_prompt_bytes) + " (limits.max_prompt_bytes)");
  if (!j.contains("model"))
    invalid("model", "'model' is required");
  if (kind == api_kind::chat && r.messages.empty())
    invalid("messages", "'messages' is required");
  if (kind == api_kind::completion && !j.contains("prompt"))
    invalid("prompt", "'prompt' is required");
  if (stream_options_seen && !r.stream)
    invalid("stream_options", "'stream_options' is only allowed with 'stream': true");
  if (r.model != served_model)
    throw api_error(404, "the model '" + r.model + "' does not exist (this node serves '" + served_model + "')",
                    "invalid_request_error", "model", "model_not_found");
  return r;
}

std::string encode_api_error(const api_error& e) {
  json err = {{"message", e.what()}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty())
    err["param"] = e.param;
  if (!e.code.empty())
    err["code"] = e.code;
  return dump(json{{"error", err}});
}

namespace {

json chunk(const api_context& c, json choices) {
  return {{"id", c.id},
          {"object", c.kind == api_kind::chat ? "chat.completion.chunk" : "text_completion"},
          {"created", c.created},
          {"model", c.model},
          {"system_fingerprint", "tessera"},
          {"choices", std::move(choices)}};
}

std::string event(const json& j) { return "data: " + dump(j) + "\n\n"; }

json usage(uint64_t prompt_tokens, uint64_t completion_tokens, uint64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

}  // namespace

std::string sse_delta(const api_context& c, uint32_t index, const std::string& text, bool first) {
  json choice = {{"index", index}, {"finish_reason", nullptr}};
  if (c.kind == api_kind::chat) {
    json delta = {{"content", text}};
    if (first)
      delta["role"] = "assistant";
    choice["delta"] = delta;
    choice["logprobs"] = nullptr;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  return event(chunk(c, json::array({choice})));
}

std::string sse_finish(const api_context& c, uint32_t index, const std::string& finish_reason) {
  json choice = {{"index", index}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (c.kind == api_kind::chat)
    choice["delta"] = json::object();
  else
    choice["text"] = "";
  return event(chunk(c, json::array({choice})));
}

std::string sse_usage(const api_context& c, uint64_t prompt_tokens, uint64_t completion_tokens,
                      uint64_t cached_tokens) {
  auto j = chunk(c, json::array());
  j["usage"] = usage(prompt_tokens, completion_tokens, cached_tokens);
  return event(j);
}

std::string sse_done() { return "data: [DONE]\n\n"; }

std::string sse_comment(const std::string& text) {
  std::string line = text;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return ": " + line + "\n\n";
}

std::string sse_error(const api_error& e) { return "data: " + encode_api_error(e) + "\n\n"; }

std::string encode_api_response(const api_context& c, const std::vector<api_choice>& choices,
                                uint64_t prompt_tokens, uint64_t completion_tokens, uint64_t cached_tokens) {
  json list = json::array();
  for (uint32_t i = 0; i < choices.size(); ++i) {
    json choice = {{"index", i}, {"finish_reason", choices[i].finish_reason}, {"logprobs", nullptr}};
    if (c.kind == api_kind::chat)
      choice["message"] = {{"role", "assistant"}, {"content", choices[i].text}, {"refusal", nullptr}};
    else
      choice["text"] = choices[i].text;
    list.push_back(choice);
  }
  return dump(json{{"id", c.id},
                   {"object", c.kind == api_kind::chat ? "chat.completion" : "text_completion"},
                   {"created", c.created},
                   {"model", c.model},
                   {"system_fingerprint", "tessera"},
                   {"choices", list},
                   {"usage", usage(prompt_tokens, completion_tokens, cached_tokens)}});
}

int http_status_for(const std::string& code) {
  if (code == "bad_request" || code == "prompt_too_long")
    return 400;
  if (code == "rate_limit_exceeded")
    return 429;
  if (code == "no_capacity" || code == "shutdown")
    return 503;
  if (code == "timeout")
    return 504;
  return 500;
}

}  // namespace tessera::actors
