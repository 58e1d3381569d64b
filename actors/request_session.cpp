#include "actors/request_session.hpp"

#include <algorithm>

#include "model/tokenizer/chat_template.hpp"

namespace tessera::actors {

request_session::request_session(generate_params params, std::shared_ptr<const model::tokenizer> tok,
                                 uint32_t context, clock_type::time_point created)
    : params_(std::move(params)),
      tok_(std::move(tok)),
      context_(context),
      created_(created),
      decoder_(std::make_unique<model::stream_decoder>(*tok_)),
      stops_(params_.stop) {}

std::optional<std::pair<errc, std::string>> request_session::start() {
  tokens_ = params_.prompt_ids;
  if (tokens_.empty() && !params_.chat.empty()) {
    std::vector<model::chat_message> messages;
    for (auto& [role, content] : params_.chat)
      messages.push_back({role, content});
    try {
      tokens_ = model::encode_chat(*tok_, messages);
    } catch (const std::exception& e) {
      return std::make_pair(errc::bad_request,
                            std::string("cannot format the messages with the chat template: ") + e.what());
    }
  } else if (tokens_.empty()) {
    tokens_ = tok_->encode(params_.prompt, true);
  }
  prompt_len_ = tokens_.size();
  if (prompt_len_ == 0)
    return std::make_pair(errc::bad_request, std::string("empty prompt"));
  for (auto t : tokens_)
    if (t < 0 || static_cast<uint64_t>(t) >= tok_->vocab_size())
      return std::make_pair(errc::bad_request, "prompt_ids: token " + std::to_string(t) +
                                                   " outside the vocabulary of " + std::to_string(tok_->vocab_size()));
  if (prompt_len_ >= context_)
    return std::make_pair(errc::prompt_too_long, "prompt is " + std::to_string(prompt_len_) +
                                                     " tokens; the context holds " + std::to_string(context_) +
                                                     " (prompt + reply)");
  max_tokens_ = std::min<uint32_t>(params_.max_tokens, context_ - static_cast<uint32_t>(prompt_len_));
  return std::nullopt;
}

sampling_params request_session::next_sampling() const {
  if (params_.temperature <= 0.0f)
    return {1.0f, 1, 1.0f, 0.0f};  // top-1: the argmax
  return {params_.temperature, params_.top_k, params_.top_p, seeded_uniform(params_.seed, generated())};
}

request_session::token_outcome request_session::add_token(int64_t id, clock_type::time_point now) {
  token_outcome out;
  if (generated() == 0)
    first_token_ = now;
  last_token_ = now;
  if (tok_->is_stop(id)) {
    out.finish = "stop";  // the stop token is not part of the reply
    return out;
  }
  tokens_.push_back(id);
  out.emit = true;
  out.text = stops_.push(decoder_->push(id));
  if (stops_.stopped())
    out.finish = "stop";
  else if (generated() >= max_tokens_)
    out.finish = "length";
  return out;
}

void request_session::count_decode_step(double compute_ms, double wall_ms) {
  compute_ms_ += compute_ms;
  wall_ms_ += wall_ms;
  ++decode_steps_;
}

void request_session::mark_routed(clock_type::time_point now) {
  if (!routed_)
    routed_ = now;
}

done_event request_session::finish(const std::string& reason, uint32_t stages, clock_type::time_point now) {
  done_event d;
  d.finish_reason = reason;
  d.text = stops_.push(decoder_->finish());
  d.text += stops_.flush();
  auto n = generated();
  d.prompt_tokens = prompt_len_;
  d.completion_tokens = n;
  d.cached_tokens = cached_tokens;
  auto& t = d.timings;
  t.queue_ms = routed_ ? ms_between(created_, *routed_) : 0.0;
  t.ttft_ms = n > 0 ? ms_between(created_, first_token_) : 0.0;
  t.per_token_ms = n > 1 ? ms_between(first_token_, last_token_) / (n - 1) : 0;
  t.total_ms = ms_between(created_, now);
  t.decode_steps = decode_steps_;
  t.compute_ms_per_token = decode_steps_ ? compute_ms_ / decode_steps_ : 0.0;
  t.overhead_ms_per_token = decode_steps_ ? (wall_ms_ - compute_ms_) / decode_steps_ : 0.0;
  t.stages = stages;
  t.replays = replays;
  t.input_replays = input_replays;
  t.migrations = migrations;
  t.lost_stages = failures;
  return d;
}

}  // namespace tessera::actors
