#include "actors/client_protocol.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "actors/json_guard.hpp"
#include "net/limits.hpp"

namespace tessera::actors {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& message) { throw std::invalid_argument(message); }

double number_in(const std::string& key, const json& v, double lo, double hi) {
  if (!v.is_number())
    bad("field '" + key + "' must be a number");
  double x = v.get<double>();
  if (x < lo || x > hi)
    bad("field '" + key + "' = " + json_excerpt(v) + " is outside [" + dump_json(json(lo)) + ", " + dump_json(json(hi)) + "]");
  return x;
}

void require_integer(const std::string& key, const json& v) {
  if (!v.is_number_integer())
    bad("field '" + key + "' must be an integer");
}

void read_prompt(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  if (!v.is_string())
    bad("field 'prompt' must be a string");
  const auto problem = prompt_size_problem(v.get_ref<const std::string&>().size(), lim);
  if (!problem.empty())
    bad(problem);
  p.prompt = v.get<std::string>();
}

void read_prompt_ids(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  if (!v.is_array())
    bad("field 'prompt_ids' must be an array of token ids");
  if (v.size() > lim.max_prompt_ids)
    bad("field 'prompt_ids' holds " + std::to_string(v.size()) + " ids; the limit is " +
        std::to_string(lim.max_prompt_ids) + " (model.context)");
  for (auto& id : v) {
    if (!id.is_number_integer())
      bad("field 'prompt_ids' holds a non-integer: " + json_excerpt(id));
    p.prompt_ids.push_back(id.get<int64_t>());
  }
}

void read_max_tokens(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  require_integer(key, v);
  p.max_tokens = static_cast<uint32_t>(number_in(key, v, 1, 1 << 20));
}

void read_temperature(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  p.temperature = static_cast<float>(number_in(key, v, 0, 100));
}

void read_top_k(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  require_integer(key, v);
  p.top_k = static_cast<int64_t>(number_in(key, v, 0, 1e9));
}

void read_top_p(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  p.top_p = static_cast<float>(number_in(key, v, 0, 1));
  if (p.top_p <= 0)
    bad("field 'top_p' must be > 0");
}

void read_seed(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  require_integer(key, v);
  p.seed = v.get<uint64_t>();
}

void add_stop(const json& s, generate_params& p, const request_limits& lim) {
  if (!s.is_string())
    bad("field 'stop' holds a non-string: " + json_excerpt(s));
  const auto& text = s.get_ref<const std::string&>();
  if (text.size() > lim.max_stop_bytes)
    bad("field 'stop' holds a string of " + std::to_string(text.size()) + " bytes; the limit is " +
        std::to_string(lim.max_stop_bytes));
  p.stop.push_back(text);
}

void read_stop(const std::string& key, const json& v, generate_params& p, const request_limits& lim) {
  if (v.is_string())
    return add_stop(v, p, lim);
  if (!v.is_array())
    bad("field 'stop' must be a string or an array of strings");
  if (v.size() > lim.max_stop_strings)
    bad("field 'stop' holds " + std::to_string(v.size()) + " strings; the limit is " +
        std::to_string(lim.max_stop_strings));
  for (auto& s : v)
    add_stop(s, p, lim);
}

void read_cache(const std::string& key, const json& v, generate_params& p, const request_limits&) {
  if (!v.is_boolean())
    bad("field '" + key + "' must be true or false, got " + json_excerpt(v));
  p.cache = v.get<bool>();
}

// Every field a request may carry, and how it is read.
struct request_field {
  const char* name;
  void (*read)(const std::string& key, const json& value, generate_params& out, const request_limits& lim);
};
const request_field request_fields[] = {
    {"prompt", read_prompt},           {"prompt_ids", read_prompt_ids}, {"max_tokens", read_max_tokens},
    {"temperature", read_temperature}, {"top_k", read_top_k},           {"top_p", read_top_p},
    {"seed", read_seed},               {"stop", read_stop},             {"cache", read_cache},
};

}  // namespace

request_limits request_limits_of(const node_config& cfg) {
  request_limits lim;
  lim.max_prompt_bytes = cfg.max_prompt_bytes;
  lim.max_json_depth = cfg.max_json_depth;
  lim.max_prompt_ids = cfg.context;
  return lim;
}

std::string prompt_size_problem(std::size_t bytes, const request_limits& limits) {
  if (bytes <= limits.max_prompt_bytes)
    return "";
  return "prompt is " + std::to_string(bytes) + " bytes; the limit is " + std::to_string(limits.max_prompt_bytes) +
         " (limits.max_prompt_bytes)";
}

generate_params parse_generate_request(const std::string& text, uint32_t max_tokens_default,
                                       const request_limits& limits) {
  if (auto deep = json_depth_problem(text, limits.max_json_depth))
    bad(*deep);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // The parser quotes the bytes it stopped at, which need not be valid UTF-8.
    bad("malformed JSON: " + net::escape_text(e.what()));
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
      bad("unknown field '" + net::escape_text(key, 64) + "'");
    field->read(key, item.value(), p, limits);
  }
  if (!j.contains("prompt") && !j.contains("prompt_ids"))
    bad("missing field 'prompt' (or 'prompt_ids')");
  return p;
}

std::string encode(const token_event& e) { return dump_json(json{{"token", e.id}, {"text", e.text}}); }

std::string encode(const status_event& e) {
  json j = {{"status", e.state}};
  if (e.state != "running")
    j["reason"] = e.reason;
  return dump_json(j);
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
            {"usage",
             {{"prompt_tokens", e.prompt_tokens},
              {"completion_tokens", e.completion_tokens},
              {"cached_tokens", e.cached_tokens}}},
            {"timings", timings}};
  if (!e.text.empty())
    j["text"] = e.text;
  return dump_json(j);
}

std::string encode(const error_event& e) { return dump_json(json{{"error", e.message}, {"code", e.code}}); }

}  // namespace tessera::actors
