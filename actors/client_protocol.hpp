// The /ws/generate protocol, both directions, in one place (no CAF, no
// sockets): a client's JSON request parsed into generate_params, and the
// request's events (token, status, done, error) encoded as the JSON frames
// the client reads. Client shells (the WebSocket client actor today) call
// these; the request actor only produces events.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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
  bool cache = true;       // "cache": false — neither use nor fill the prefix cache
  std::string cache_salt;  // prefix cache entries are shared only between equal salts (per API key)
};

// Parses one request frame. Throws std::invalid_argument naming the bad field
// (unknown fields, wrong types and out-of-range values are all refused).
generate_params parse_generate_request(const std::string& text, uint32_t max_tokens_default);

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
