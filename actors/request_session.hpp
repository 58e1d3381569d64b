// One request's generation, without actors: the tokens (prompt + generated),
// the streaming text decoder, stop strings and the counters and clocks that
// become the final message's usage and timings. The request actor owns one
// and decides, from messages, when to call it. No CAF here.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/client_protocol.hpp"
#include "actors/errors.hpp"
#include "actors/step_data.hpp"
#include "actors/stop_strings.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace tessera::actors {

class request_session {
public:
  using clock_type = std::chrono::steady_clock;

  request_session(generate_params params, std::shared_ptr<const model::tokenizer> tok, uint32_t context,
                  clock_type::time_point created = clock_type::now());

  // Tokenises the prompt (or takes prompt_ids) and checks it: not empty,
  // inside the vocabulary, shorter than the context. The error names the bad value.
  std::optional<std::pair<errc, std::string>> start();

  const std::vector<int64_t>& tokens() const { return tokens_; }
  const generate_params& params() const { return params_; }
  size_t prompt_len() const { return prompt_len_; }
  size_t generated() const { return tokens_.size() - prompt_len_; }
  clock_type::time_point created() const { return created_; }

  // Sampling for the step that draws the next token: top-1 when greedy, else
  // the client's settings with the seeded draw for that token's index (a
  // replayed step draws the same value).
  sampling_params next_sampling() const;

  // What a new token means for the client.
  struct token_outcome {
    bool emit = false;    // send token_event{id, text}
    std::string text;
    std::string finish;   // non-empty: the request is complete ("stop" or "length")
  };
  // A step drew token `id` at `now`.
  token_outcome add_token(int64_t id, clock_type::time_point now);

  // A decode step (KV complete before it) took `wall_ms`, `compute_ms` of it on workers.
  void count_decode_step(double compute_ms, double wall_ms);
  // The first usable route arrived (the queue time ends).
  void mark_routed(clock_type::time_point now);

  // Route changes, for the final timings.
  uint32_t replays = 0;        // KV rebuilt from the tokens
  uint32_t input_replays = 0;  // KV rebuilt from kept stage inputs
  uint32_t migrations = 0;     // route switches at a token boundary (no stage lost)
  uint32_t failures = 0;       // stages lost
  uint64_t cached_tokens = 0;  // prompt positions the first token's prefill forked from the prefix cache

  // The final message: the text still held back, usage and timings.
  done_event finish(const std::string& reason, uint32_t stages, clock_type::time_point now);

private:
  generate_params params_;
  std::shared_ptr<const model::tokenizer> tok_;
  uint32_t context_;
  clock_type::time_point created_;
  std::vector<int64_t> tokens_;
  size_t prompt_len_ = 0;
  uint32_t max_tokens_ = 0;
  std::unique_ptr<model::stream_decoder> decoder_;
  stop_matcher stops_;
  std::optional<clock_type::time_point> routed_;
  clock_type::time_point first_token_, last_token_;
  double compute_ms_ = 0;  // decode steps only
  double wall_ms_ = 0;     // decode steps only
  uint32_t decode_steps_ = 0;
};

inline double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace tessera::actors
