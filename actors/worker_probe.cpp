#include "actors/worker_probe.hpp"

#include "actors/spawn.hpp"
#include "actors/wire_codec.hpp"

namespace tessera::actors {

worker_probe::worker_probe(std::shared_ptr<load_probe_cache> cache, double deadline_ms, double per_position_ms)
    : cache_(std::move(cache)), deadline_ms_(deadline_ms), per_position_ms_(per_position_ms) {}

std::optional<std::string> worker_probe::start(const shard_loaded& loaded, const stage_contract* contract,
                                               uint32_t layer_begin, uint32_t layer_end, clock_type::time_point now,
                                               std::string& why_not) {
  pending_.reset();
  if (passed_.count(loaded.shard_id)) {
    why_not = "passed before";
    return std::nullopt;
  }
  if (!contract) {
    why_not = "no stage contract to build it from";
    return std::nullopt;
  }
  auto input = make_probe_input(*contract, cache_->seed(), cache_->positions(), why_not);
  if (!input)
    return std::nullopt;
  stage_step s;
  s.request_id = new_request_id();
  s.sequence_id = new_request_id();  // a fresh sequence of its own, released after the answer
  s.position = 0;
  s.seq_len = input->positions;
  s.token_ids = std::move(input->token_ids);
  s.tensors = std::move(input->tensors);
  s.sampling.temperature = 0;  // greedy: the head's answer is a function of its input
  route_hop hop;
  hop.worker_id = loaded.worker_id;
  hop.shard_id = loaded.shard_id;
  hop.layer_begin = layer_begin;
  hop.layer_end = layer_end;
  s.path.hops = {hop};
  // encode_forward sends token ids on hop 0 only: a stage that takes tensors
  // gets them as its inputs, with no token ids beside them.
  pending_ = in_flight{s.request_id, s.sequence_id, loaded, layer_begin, layer_end, now};
  return encode_forward(s);
}

std::string worker_probe::what() const {
  if (!pending_)
    return "load probe";
  return "load probe of layers " + std::to_string(pending_->layer_begin) + "-" + std::to_string(pending_->layer_end);
}

shard_loaded worker_probe::take_loaded() {
  shard_loaded l = pending_ ? pending_->loaded : shard_loaded{};
  pending_.reset();
  return l;
}

probe_verdict worker_probe::judge(probe_answer answer) {
  const auto& p = *pending_;
  auto v = cache_->judge(p.loaded.shard_id, std::to_string(p.layer_begin) + "-" + std::to_string(p.layer_end),
                         std::move(answer));
  if (v.kind != probe_verdict_kind::newcomer_guilty)
    passed_.insert(p.loaded.shard_id);
  return v;
}

std::optional<std::string> worker_probe::overdue(clock_type::time_point now) const {
  if (!pending_)
    return std::nullopt;
  double limit = deadline_ms_ + per_position_ms_ * cache_->positions();
  double waited = std::chrono::duration<double, std::milli>(now - pending_->sent).count();
  if (waited <= limit)
    return std::nullopt;
  return what() + " unanswered after " + std::to_string(static_cast<int64_t>(waited)) + " ms (deadline " +
         std::to_string(static_cast<int64_t>(limit)) + " ms)";
}

}  // namespace tessera::actors
