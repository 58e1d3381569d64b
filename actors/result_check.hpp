// What a worker's Result must look like, and the check of each one against
// it. A stage's contract comes from its cut's manifest.json (the outputs that
// cross to the next stage, or the token head's next_token; the model's
// vocabulary size). check_result() answers the first thing wrong, in words a
// log and an eviction reason can carry: a missing or extra tensor, a wrong
// dtype, shape or byte length, a NaN or infinity, a constant hidden state
// (zeros), a token id outside the vocabulary. Pure functions, no CAF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/step_data.hpp"

namespace tessera::actors {

// One dimension of an expected tensor: a number, or the step's batch (1) or
// sequence length (seq_len).
struct expected_dim {
  enum class kind { fixed, batch, sequence } what = kind::fixed;
  int64_t size = 0;  // with fixed
};

struct expected_tensor {
  std::string name;
  std::vector<expected_dim> dims;
};

struct stage_contract {
  std::string shard_id;
  std::vector<expected_tensor> inputs;   // boundary inputs (none for the first stage: it takes token ids)
  std::vector<expected_tensor> outputs;  // boundary outputs (none for the last stage)
  bool emits_tokens = false;             // the last stage: one next_token per step
  uint64_t vocab_size = 0;               // token ids must lie in [0, vocab_size)
};

// The contract of stage `shard_id` from a cut's manifest.json text. nullopt
// (and `error` naming what is missing) when the manifest has no such stage or
// cannot be read.
std::optional<stage_contract> contract_from_manifest(const std::string& manifest_json, const std::string& shard_id,
                                                     std::string& error);

// nullopt when a Result of `seq_len` positions fits the contract; else what is
// wrong with it, naming the tensor and the bad value. FLOAT16 stands in for
// FLOAT32 (workers may send half-precision hidden states).
std::optional<std::string> check_result(const stage_contract& c, uint32_t seq_len,
                                        const std::vector<tensor_blob>& tensors,
                                        const std::vector<int64_t>& token_ids);

// Largest difference between two float tensors of the same name and shape
// relative to the reference's largest magnitude (|a - b|max / max(1, |b|max)),
// or nullopt when they cannot be compared (names, shapes or dtypes differ).
std::optional<double> relative_difference(const std::vector<tensor_blob>& got, const std::vector<tensor_blob>& want);

// The largest |value| over float tensors (FLOAT32 or FLOAT16); 0 for none.
double largest_magnitude(const std::vector<tensor_blob>& tensors);

}  // namespace tessera::actors
