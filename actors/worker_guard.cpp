#include "actors/worker_guard.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actors/messages.hpp"
#include "actors/status_board.hpp"

namespace tessera::actors {

namespace {

constexpr uint32_t kNotLoaded = 2;  // worker Error code: no stage loaded / not the loaded shard
constexpr double kSpeedWeight = 0.2;  // EWMA weight of the newest step

std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

verify_registry::verify_registry(std::shared_ptr<const shard_registry> shards) : shards_(std::move(shards)) {}

std::shared_ptr<const stage_contract> verify_registry::contract(const std::string& id, const std::string& graph_file,
                                                                std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = contracts_.find(id);
    if (it != contracts_.end())
      return it->second;
  }
  auto file = shards_ ? shards_->find(id, graph_file) : std::nullopt;
  if (!file) {
    error = "shard " + id + " file " + graph_file + " is not registered";
    return nullptr;
  }
  auto manifest = std::filesystem::path(file->path).parent_path() / "manifest.json";
  std::ifstream in(manifest);
  if (!in) {
    error = manifest.string() + ": cannot read";
    return nullptr;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto c = contract_from_manifest(text.str(), id, error);
  if (!c) {
    error = manifest.string() + ": " + error;
    return nullptr;
  }
  auto shared = std::make_shared<const stage_contract>(std::move(*c));
  std::lock_guard<std::mutex> lock(mu_);
  contracts_[id] = shared;
  return shared;
}

void verify_registry::ban(const std::string& name, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  banned_[name] = reason;
}

std::optional<std::string> verify_registry::ban_reason(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = banned_.find(name);
  if (it == banned_.end())
    return std::nullopt;
  return it->second;
}

worker_guard::worker_guard(const node_config& cfg, std::shared_ptr<verify_registry> registry)
    : cfg_(cfg), registry_(std::move(registry)) {}

std::optional<std::string> worker_guard::admit(worker_info& hello) {
  name_ = hello.name;
  if (registry_)
    if (auto why = registry_->ban_reason(hello.name))
      return "worker name '" + hello.name + "' is banned: " + *why;
  double f = hello.flops_per_s;
  if (!std::isfinite(f) || f < 0)
    return "claims flops_per_s = " + number_text(f) + " (not a finite, non-negative number)";
  if (f > cfg_.max_worker_flops)
    return "claims flops_per_s = " + number_text(f) + " (above verify.max_worker_flops = " +
           number_text(cfg_.max_worker_flops) + ")";
  if (hello.memory_bytes > cfg_.max_worker_memory)
    hello.memory_bytes = cfg_.max_worker_memory;
  return std::nullopt;
}

void worker_guard::assigned(const std::string& id, const std::string& graph_file, uint32_t layer_begin,
                            uint32_t layer_end) {
  assigned_shard_ = id;
  loaded_shard_.clear();
  layer_begin_ = layer_begin;
  layer_end_ = layer_end;
  contract_.reset();
  if (!registry_ || !cfg_.check_results)
    return;
  std::string error;
  contract_ = registry_->contract(id, graph_file, error);
  // Without a contract only the claims, deadlines and loading lies are checked.
  (void)error;
}

void worker_guard::loaded(const std::string& id, bool ok) {
  if (ok && id == assigned_shard_)
    loaded_shard_ = id;
}

void worker_guard::forward_sent(uint64_t request_id, uint32_t seq_len, clock_type::time_point now) {
  pending_[request_id] = {seq_len, now, pending_.empty(), contract_};
}

std::optional<std::string> worker_guard::check_result(uint64_t request_id, uint32_t seq_len,
                                                      const std::vector<tensor_blob>& tensors,
                                                      const std::vector<int64_t>& token_ids,
                                                      clock_type::time_point now) {
  auto it = pending_.find(request_id);
  last_answer_ = now;
  auto contract = contract_;
  if (it != pending_.end()) {
    auto step = it->second;
    contract = step.contract;
    pending_.erase(it);
    if (step.alone && seq_len > 0) {
      double ms = std::chrono::duration<double, std::milli>(now - step.sent).count() / seq_len;
      bool same_stage = measured_begin_ == layer_begin_ && measured_end_ == layer_end_;
      ms_per_position_ = same_stage && ms_per_position_ > 0 ? (1 - kSpeedWeight) * ms_per_position_ + kSpeedWeight * ms : ms;
      measured_begin_ = layer_begin_;
      measured_end_ = layer_end_;
    }
  }
  if (!contract)
    return std::nullopt;
  if (auto bad = ::tessera::actors::check_result(*contract, seq_len, tensors, token_ids))
    return "bad result for shard " + contract->shard_id.substr(0, 12) + ": " + *bad;
  return std::nullopt;
}

std::optional<std::string> worker_guard::check_error(uint32_t code, const std::string& forward_shard) const {
  if (code == kNotLoaded && !loaded_shard_.empty() && forward_shard == loaded_shard_)
    return "reported shard " + loaded_shard_.substr(0, 12) + " Loaded but answers its step with \"no stage loaded\"";
  return std::nullopt;
}

void worker_guard::forget(uint64_t request_id) { pending_.erase(request_id); }

void worker_guard::answered(clock_type::time_point now) { last_answer_ = now; }

std::optional<std::string> worker_guard::overdue(clock_type::time_point now) const {
  auto oldest = pending_.end();
  for (auto it = pending_.begin(); it != pending_.end(); ++it)
    if (oldest == pending_.end() || it->second.sent < oldest->second.sent)
      oldest = it;
  if (oldest == pending_.end())
    return std::nullopt;
  const auto& step = oldest->second;
  double limit = cfg_.step_deadline_ms + cfg_.step_deadline_per_position_ms * step.seq_len;
  double waited = std::chrono::duration<double, std::milli>(now - std::max(step.sent, last_answer_)).count();
  if (waited > limit)
    return "step of request " + std::to_string(oldest->first) + " (" + std::to_string(step.seq_len) +
           " positions) unanswered after " + std::to_string(static_cast<int64_t>(waited)) + " ms of its turn (deadline " +
           std::to_string(static_cast<int64_t>(limit)) + " ms)";
  return std::nullopt;
}

}  // namespace tessera::actors
