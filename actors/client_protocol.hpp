// The /ws/generate protocol, both directions, in one place (no CAF, no
// sockets): a client's JSON request parsed into generate_params, and the
// request's events (token, status, done, error) encoded as the JSON frames
// the client reads. Client shells (the WebSocket client actor today) call
// these; the request actor only produces events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "actors/node_config.hpp"

namespace tessera::actors {

// A client request as parsed from /ws/generate.
struct generate_params {
  std::string prompt;
  std::vector<int64_t> prompt_ids;  // used when non-empty (prompt ignored)
  uint32_t max_tokens = 64;
  float temperature = 0.0f;  // 0: greedy
  int64_t top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  // Chat turns (role, content) formatted with the model's chat template in
  // place of `prompt` (the OpenAI chat route); tokenised with the prompt.
  std::vector<std::pair<std::string, std::string>> chat;
  bool cache = true;       // "cache": false — neither use nor fill the prefix cache
  std::string cache_salt;  // prefix cache entries are shared only between equal salts (per API key)
};

// What one request may hold, checked while parsing, before anything is
// tokenised: prompt text bytes (chat: all contents together), nesting of the
// JSON, and token ids. Errors name the config key ([limits]).
struct request_limits {
  std::size_t max_prompt_bytes = 1u << 20;
  std::size_t max_json_depth = 64;
  std::size_t max_prompt_ids = 1u << 20;
  std::size_t max_stop_strings = 16;
  std::size_t max_stop_bytes = 1024;  // each stop string
};
// [limits] max_prompt_bytes and max_json_depth of `cfg`; prompt ids up to [model] context.
request_limits request_limits_of(const node_config& cfg);

// The problem with a prompt of `bytes` bytes under `limits`, or "" when it fits.
std::string prompt_size_problem(std::size_t bytes, const request_limits& limits);

// Parses one request frame. Throws std::invalid_argument naming the bad field
// (unknown fields, wrong types, out-of-range values and anything over
// `limits` are all refused); the message is valid UTF-8.
generate_params parse_generate_request(const std::string& text, uint32_t max_tokens_default,
                                       const request_limits& limits = {});

// ---- events: what a request tells its client -------------------------------------

// One generated token and the text it completes (may be empty: a partial
// UTF-8 sequence, or text held back while it may still start a stop string).
struct token_event {
  int64_t id = 0;
  std::string text;
};

// The request waits ("queued"), recovers from a lost stage ("recovering") or
// runs again ("running"); `reason` is empty for "running".
struct status_event {
  std::string state;
  std::string reason;
};

struct request_timings {
  double queue_ms = 0;
  double ttft_ms = 0;
  double per_token_ms = 0;
  double total_ms = 0;
  uint32_t decode_steps = 0;
  double compute_ms_per_token = 0;
  double overhead_ms_per_token = 0;
  uint32_t stages = 0;
  uint32_t replays = 0;
  uint32_t input_replays = 0;
  uint32_t migrations = 0;
  uint32_t lost_stages = 0;
};

// The last message of a request that completed: why it stopped, the text held
// back until the end (may be empty), usage and timings.
struct done_event {
  std::string finish_reason;  // "stop" or "length"
  std::string text;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  request_timings timings;
  uint64_t cached_tokens = 0;  // prompt positions forked from the prefix cache instead of computed
};

// The last message of a request that failed, or the answer to a frame that
// was not a valid request. `code` is the tessera error name (bad_request, ...).
struct error_event {
  std::string message;
  std::string code;
};

std::string encode(const token_event& e);
std::string encode(const status_event& e);
std::string encode(const done_event& e);
std::string encode(const error_event& e);

}  // namespace tessera::actors
