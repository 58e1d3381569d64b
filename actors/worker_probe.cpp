#include "actors/worker_probe.hpp"

#include <spdlog/spdlog.h>

#include "actors/spawn.hpp"

namespace tessera::actors {

worker_probe::worker_probe(std::shared_ptr<load_probe_cache> cache, double deadline_ms, double per_position_ms,
                           links l)
    : cache_(std::move(cache)), deadline_ms_(deadline_ms), per_position_ms_(per_position_ms), links_(std::move(l)) {}

std::string worker_probe::what() const {
  if (!pending_)
    return "load probe";
  return "load probe of layers " + std::to_string(pending_->layer_begin) + "-" + std::to_string(pending_->layer_end);
}

void worker_probe::release() {
  if (pending_)
    links_.send(encode_release(pending_->sequence_id, false));
  pending_.reset();
}

bool worker_probe::on_loaded(const shard_loaded& loaded, const worker_guard& guard, clock_type::time_point now) {
  if (!loaded.ok || loaded.shard_id != guard.assigned_shard())
    return false;
  if (pending_ && pending_->loaded.shard_id == loaded.shard_id)
    return true;  // a second Loaded of the shard (two Assigns of it): the probe in flight answers both
  release();      // a probe of an earlier shard is void
  if (passed_.count(loaded.shard_id) || !guard.contract())
    return false;
  std::string why_not;
  auto input = make_probe_input(*guard.contract(), cache_->seed(), cache_->positions(), why_not);
  if (!input) {
    spdlog::debug("worker={} shard={} no load probe: {}", loaded.worker_id, loaded.shard_id, why_not);
    return false;
  }
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
  hop.layer_begin = guard.layer_begin();
  hop.layer_end = guard.layer_end();
  s.path.hops = {hop};
  pending_ = in_flight{s.request_id, s.sequence_id, loaded, hop.layer_begin, hop.layer_end, now};
  links_.send(encode_forward(s));
  return true;
}

std::optional<probe_eviction> worker_probe::on_result(worker_frame& f, worker_guard& guard, uint64_t worker_id,
                                                      const std::string& name, const std::string& backend,
                                                      clock_type::time_point now) {
  if (auto bad = guard.check_result(f.request_id, cache_->positions(), f.tensors, f.token_ids, now))
    return probe_eviction{what() + ": " + *bad};
  probe_answer a;
  a.tensors = std::move(f.tensors);
  a.token_ids = std::move(f.token_ids);
  a.backend = backend;
  a.worker_id = worker_id;
  a.worker_name = name;
  a.evict = links_.evict_self;
  const auto& p = *pending_;
  auto v = cache_->judge(p.loaded.shard_id, std::to_string(p.layer_begin) + "-" + std::to_string(p.layer_end),
                         std::move(a));
  switch (v.kind) {
    case probe_verdict_kind::newcomer_guilty:
      return probe_eviction{v.reason};
    case probe_verdict_kind::holder_guilty:
      spdlog::warn("worker={} name={} convicts worker={} name={}: {}", worker_id, name, v.holder_id, v.holder_name,
                   v.reason);
      if (links_.verify)
        links_.verify->ban(v.holder_name, v.reason);
      if (v.evict_holder)
        v.evict_holder(v.reason);
      break;
    default:
      spdlog::info("worker={} name={} {} (difference {:.3g})", worker_id, name, v.reason, v.difference);
  }
  passed_.insert(p.loaded.shard_id);
  auto loaded = p.loaded;
  release();
  links_.pass_on(std::move(loaded));
  return std::nullopt;
}

probe_eviction worker_probe::on_error(const worker_frame& f, const worker_guard& guard) const {
  if (auto lie = guard.check_error(f.error_code, guard.assigned_shard()))
    return {what() + ": " + *lie};
  return {what() + " answered with error " + std::to_string(f.error_code) + ": " + f.error_message, false};
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

void worker_probe::on_assign() { release(); }

}  // namespace tessera::actors
