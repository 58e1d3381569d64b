#include "actors/client_protocol.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tessera::actors {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& message) { throw std::invalid_argument(message); }

// JSON text for a frame: bytes that are not UTF-8 (a malformed request quoted in
// an error message) become U+FFFD instead of throwing type_error 316.
std::string dump_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A value quoted back in an error message: scalars as JSON, arrays and objects
// by their type (dumping them recurses once per nesting level).
std::string describe(const json& v) {
  return v.is_structured() ? std::string("an ") + v.type_name() : dump_text(v);
}

double number_in(const std::string& key, const json& v, double lo, double hi) {
  if (!v.is_number())
    bad("field '" + key + "' must be a number");
  double x = v.get<double>();
  if (x < lo || x > hi)
    bad("field '" + key + "' = " + v.dump() + " is outside [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  return x;
}

void require_integer(const std::string& key, const json& v) {
  if (!v.is_number_integer())
    bad("field '" + key + "' must be an integer");
}

void read_prompt(const std::string& key, const json& v, generate_params& p) {
  if (!v.is_string())
    bad("field 'prompt' must be a string");
  p.prompt = v.get<std::string>();
}

void read_prompt_ids(const std::string& key, const json& v, generate_params& p) {
  if (!v.is_array())
    bad("field 'prompt_ids' must be an array of token ids");
  for (auto& id : v) {
    if (!id.is_number_integer())
      bad("field 'prompt_ids' holds a non-integer: " + describe(id));
    p.prompt_ids.push_back(id.get<int64_t>());
  }
}

void read_max_tokens(const std::string& key, const json& v, generate_params& p) {
  require_integer(key, v);
  p.max_tokens = static_cast<uint32_t>(number_in(key, v, 1, 1 << 20));
}

void read_temperature(const std::string& key, const json& v, generate_params& p) {
  p.temperature = static_cast<float>(number_in(key, v, 0, 100));
}

void read_top_k(const std::string& key, const json& v, generate_params& p) {
  require_integer(key, v);
  p.top_k = static_cast<int64_t>(number_in(key, v, 0, 1e9));
}

void read_top_p(const std::string& key, const json& v, generate_params& p) {
  p.top_p = static_cast<float>(number_in(key, v, 0, 1));
  if (p.top_p <= 0)
    bad("field 'top_p' must be > 0");
}

void read_seed(const std::string& key, const json& v, generate_params& p) {
  require_integer(key, v);
  p.seed = v.get<uint64_t>();
}

void read_stop(const std::string& key, const json& v, generate_params& p) {
  if (v.is_string())
    return p.stop.push_back(v.get<std::string>());
  if (!v.is_array())
    bad("field 'stop' must be a string or an array of strings");
  for (auto& s : v) {
    if (!s.is_string())
      bad("field 'stop' holds a non-string: " + describe(s));
    p.stop.push_back(s.get<std::string>());
  }
}

// Every field a request may carry, and how it is read.
struct request_field {
  const char* name;
  void (*read)(const std::string& key, const json& value, generate_params& out);
};
const request_field request_fields[] = {
    {"prompt", read_prompt},           {"prompt_ids", read_prompt_ids}, {"max_tokens", read_max_tokens},
    {"temperature", read_temperature}, {"top_k", read_top_k},           {"top_p", read_top_p},
    {"seed", read_seed},               {"stop", read_stop},
};

}  // namespace

generate_params parse_generate_request(const std::string& text, uint32_t max_tokens_default) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object())
    bad("request must be a JSON object");
  generate_params p;
  p.max_tokens = max_tokens_default;
  for (auto& item : j.items()) {
    const std::string& key = item.key();  // a named variable: lambdas may not capture structured bindings in C++17
    auto* field = std::find_if(std::begin(request_fields), std::end(request_fields),
                               [&](const request_field& f) { return key == f.name; });
    if (field == std::end(request_fields))
      bad("unknown field '" + key + "'");
    field->read(key, item.value(), p);
  }
  if (!j.contains("prompt") && !j.contains("prompt_ids"))
    bad("missing field 'prompt' (or 'prompt_ids')");
  return p;
}

std::string encode(const token_event& e) { return dump_text(json{{"token", e.id}, {"text", e.text}}); }

std::string encode(const status_event& e) {
  json j = {{"status", e.state}};
  if (e.state != "running")
    j["reason"] = e.reason;
  return dump_text(j);
}

std::string encode(const done_event& e) {
  const auto& t = e.timings;
  json timings = {
      {"queue_ms", t.queue_ms},
      {"ttft_ms", t.ttft_ms},
      {"per_token_ms", t.per_token_ms},
      {"total_ms", t.total_ms},
      {"decode_steps", t.decode_steps},
      {"compute_ms_per_token", t.compute_ms_per_token},
      {"overhead_ms_per_token", t.overhead_ms_per_token},
      {"stages", t.stages},
      {"replays", t.replays},
      {"input_replays", t.input_replays},
      {"migrations", t.migrations},
      {"lost_stages", t.lost_stages},
  };
  json j = {{"done", true},
            {"finish_reason", e.finish_reason},
            {"usage", {{"prompt_tokens", e.prompt_tokens}, {"completion_tokens", e.completion_tokens}}},
            {"timings", timings}};
  if (!e.text.empty())
    j["text"] = e.text;
  return dump_text(j);
}

std::string encode(const error_event& e) { return dump_text(json{{"error", e.message}, {"code", e.code}}); }

}  // namespace tessera::actors
