// Command-line overrides of a preset (`--layers --hidden --heads --kv-heads --ffn
// --vocab --context --head-dim --rope-theta`), checked with errors that name the flag.
#pragma once

#include <cstdint>
#include <optional>

#include "model/build/llama_config.hpp"

namespace tessera::model {

struct llama_overrides {
  std::optional<int64_t> layers, hidden, heads, kv_heads, ffn, vocab, context, head_dim;
  std::optional<double> rope_theta;
  bool tie_embeddings = false;
  bool attention_bias = false;
};

// Returns `base` with the overrides applied. When --hidden or --heads is given
// without --head-dim, head_dim follows hidden / heads. Throws model_error whose
// message starts with the offending flag (e.g. "--kv-heads 3 must divide --heads 4").
// The result passes validate().
llama_config apply_overrides(llama_config base, const llama_overrides& overrides);

}  // namespace tessera::model
