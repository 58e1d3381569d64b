#include "actors/input_store.hpp"

namespace tessera::actors {

uint64_t input_store::size_of(const chunk& c) {
  uint64_t n = 0;
  for (const auto& t : c.tensors)
    n += t.data.size();
  return n;
}

void input_store::add(uint32_t boundary, uint32_t position, uint32_t seq_len,
                      const std::vector<tensor_blob>& tensors) {
  if (!enabled_ || seq_len == 0)
    return;
  for (const auto& t : tensors)
    if (t.shape.size() < 2 || t.shape[0] != 1 || t.shape[1] != static_cast<int64_t>(seq_len) ||
        t.data.size() % seq_len != 0)
      return;  // not a [1, seq, ...] tensor: cannot be replayed; keep nothing new
  auto& chunks = by_boundary_[boundary];
  while (!chunks.empty() && chunks.back().position >= position) {
    bytes_ -= size_of(chunks.back());
    chunks.pop_back();
  }
  chunk c{position, seq_len, tensors};
  bytes_ += size_of(c);
  chunks.push_back(std::move(c));
  if (bytes_ > cap_) {
    enabled_ = false;
    by_boundary_.clear();
    bytes_ = 0;
  }
}

bool input_store::covers(uint32_t boundary, uint32_t upto) const {
  auto it = by_boundary_.find(boundary);
  if (!enabled_ || it == by_boundary_.end() || upto == 0)
    return false;
  uint32_t next = 0;
  for (const auto& c : it->second) {
    if (next >= upto)
      break;
    if (c.position != next)
      return false;
    next += c.seq_len;
  }
  return next >= upto;
}

bool input_store::wants(uint32_t boundary, uint32_t position, uint32_t seq_len) const {
  if (!enabled_ || seq_len == 0)
    return false;
  if (position > 0 && !covers(boundary, position))
    return false;
  return !covers(boundary, position + seq_len);
}

std::optional<std::vector<tensor_blob>> input_store::replay(uint32_t boundary, uint32_t upto) const {
  auto it = by_boundary_.find(boundary);
  if (!enabled_ || it == by_boundary_.end() || upto == 0)
    return std::nullopt;
  std::vector<tensor_blob> out;
  uint32_t next = 0;
  for (const auto& c : it->second) {
    if (next >= upto)
      break;
    if (c.position != next)
      return std::nullopt;  // a gap
    uint32_t take = std::min(c.seq_len, upto - next);
    if (out.empty()) {
      for (const auto& t : c.tensors) {
        tensor_blob b{t.name, t.dtype, t.shape, {}};
        b.shape[1] = 0;
        out.push_back(std::move(b));
      }
    }
    if (c.tensors.size() != out.size())
      return std::nullopt;
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& t = c.tensors[i];
      if (t.name != out[i].name)
        return std::nullopt;
      size_t per_position = t.data.size() / c.seq_len;
      out[i].data.append(t.data, 0, per_position * take);
      out[i].shape[1] += take;
    }
    next += take;
  }
  if (next < upto)
    return std::nullopt;
  return out;
}

}  // namespace tessera::actors
