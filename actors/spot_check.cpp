#include "actors/spot_check.hpp"

#include <algorithm>
#include <sstream>

#include "actors/result_check.hpp"

namespace tessera::actors {

namespace {

// Bytes per position of a [1, n, ...] tensor holding n positions, or 0 when it has no sequence axis.
uint64_t position_bytes(const tensor_blob& t) {
  if (t.shape.size() < 2 || t.shape[0] != 1 || t.shape[1] <= 0 || t.data.size() % static_cast<uint64_t>(t.shape[1]))
    return 0;
  return t.data.size() / static_cast<uint64_t>(t.shape[1]);
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i)
    os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

}  // namespace

bool spot_check_ledger::is_new(uint64_t worker_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = passed_.find(worker_id);
  return (it == passed_.end() ? 0 : it->second) < settings_.first_steps;
}

void spot_check_ledger::passed(uint64_t worker_id) {
  ++passes_;
  std::lock_guard<std::mutex> lock(mu_);
  ++passed_[worker_id];
}

std::vector<uint32_t> choose_check_hops(const std::vector<check_candidate>& hops, double rate,
                                        const std::function<double()>& draw) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < hops.size(); ++i)
    if (hops[i].has_verifier && hops[i].can_replay && (hops[i].is_new || (rate > 0 && draw() < rate)))
      out.push_back(i);
  return out;
}

std::optional<std::vector<tensor_blob>> concat_positions(const std::vector<tensor_blob>& head,
                                                         const std::vector<tensor_blob>& tail, std::string& error) {
  if (head.size() != tail.size()) {
    error = std::to_string(head.size()) + " tensors kept, " + std::to_string(tail.size()) + " in the step";
    return std::nullopt;
  }
  std::vector<tensor_blob> out;
  for (const auto& h : head) {
    const tensor_blob* t = nullptr;
    for (const auto& x : tail)
      if (x.name == h.name)
        t = &x;
    if (!t || t->dtype != h.dtype || t->shape.size() != h.shape.size() || position_bytes(h) == 0 ||
        position_bytes(h) != position_bytes(*t)) {
      error = "tensor " + h.name + " " + shape_text(h.shape) + " does not continue with " +
              (t ? shape_text(t->shape) : std::string("nothing"));
      return std::nullopt;
    }
    tensor_blob joined = h;
    joined.shape[1] += t->shape[1];
    joined.data += t->data;
    out.push_back(std::move(joined));
  }
  return out;
}

check_outcome compare_hidden(const std::vector<tensor_blob>& checked, const std::vector<tensor_blob>& verifier,
                             uint32_t seq_len, double tolerance) {
  check_outcome out;
  std::vector<tensor_blob> tail;
  for (const auto& v : verifier) {
    auto per = position_bytes(v);
    if (per == 0 || v.shape[1] < static_cast<int64_t>(seq_len)) {
      out.detail = "the verifier's " + v.name + " " + shape_text(v.shape) + " lacks the last " +
                   std::to_string(seq_len) + " positions";
      return out;
    }
    tensor_blob last = v;
    last.shape[1] = seq_len;
    last.data = v.data.substr(v.data.size() - per * seq_len);
    tail.push_back(std::move(last));
  }
  auto diff = relative_difference(checked, tail);
  if (!diff) {
    out.detail = "its outputs do not have the verifier's names and shapes";
    out.difference = 1;
    return out;
  }
  // relative_difference() divides by max(1, |verifier|max): here the scale is
  // the verifier's own, however small its values are.
  double scale = largest_magnitude(tail);
  out.difference = *diff * std::max(1.0, scale) / std::max(scale, 1e-12);
  out.agree = out.difference <= tolerance;
  std::ostringstream os;
  os << "hidden state differs from a second holder's by " << out.difference << " (tolerance " << tolerance << ")";
  out.detail = os.str();
  return out;
}

check_outcome compare_tokens(const std::vector<int64_t>& checked, const std::vector<int64_t>& verifier) {
  check_outcome out;
  out.agree = checked == verifier;
  out.difference = out.agree ? 0 : 1;
  std::ostringstream os;
  os << "token ids {";
  for (size_t i = 0; i < checked.size(); ++i)
    os << (i ? "," : "") << checked[i];
  os << "} where a second holder drew {";
  for (size_t i = 0; i < verifier.size(); ++i)
    os << (i ? "," : "") << verifier[i];
  os << "}";
  out.detail = os.str();
  return out;
}

}  // namespace tessera::actors
