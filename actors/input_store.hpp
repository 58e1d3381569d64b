// The stage inputs a request relayed, kept per stage boundary (the layer a
// stage starts at) so a lost stage's KV can be rebuilt by replaying them into
// its replacement instead of re-running the whole prefix from the first stage.
// Truncation follows the KV rule: an input at `position` replaces everything
// kept at or after it. Bounded by a byte cap; past it the store turns itself
// off and requests fall back to recomputing from the tokens. No CAF runtime.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "actors/step_data.hpp"

namespace tessera::actors {

class input_store {
public:
  explicit input_store(uint64_t cap_bytes = 64ull << 20) : cap_(cap_bytes) {}

  // Keeps the input into layer `boundary` for positions [position, position + seq_len).
  // Tensors must be [1, seq_len, ...] row-major.
  void add(uint32_t boundary, uint32_t position, uint32_t seq_len, const std::vector<tensor_blob>& tensors);
  // The inputs for positions [0, upto) at `boundary`, concatenated along the
  // sequence axis; nullopt when the store does not cover them.
  std::optional<std::vector<tensor_blob>> replay(uint32_t boundary, uint32_t upto) const;
  // Whether replay(boundary, upto) would succeed (no copy).
  bool covers(uint32_t boundary, uint32_t upto) const;
  // Whether a copy of the input into `boundary` for [position, position +
  // seq_len) is worth sending: the store is on, holds everything before
  // `position` there (else the copy could never be replayed), and does not
  // hold these positions already.
  bool wants(uint32_t boundary, uint32_t position, uint32_t seq_len) const;
  bool enabled() const { return enabled_; }
  uint64_t bytes() const { return bytes_; }

private:
  struct chunk {
    uint32_t position = 0;
    uint32_t seq_len = 0;
    std::vector<tensor_blob> tensors;
  };
  static uint64_t size_of(const chunk& c);
  std::map<uint32_t, std::vector<chunk>> by_boundary_;
  uint64_t cap_;
  uint64_t bytes_ = 0;
  bool enabled_ = true;
};

}  // namespace tessera::actors
