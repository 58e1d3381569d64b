// apply_overrides: preset + flags -> a valid llama_config, errors named by flag.
#include "model/build/llama_overrides.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

constexpr int64_t k_max_size = int64_t(1) << 24;

void set(const char* flag, const std::optional<int64_t>& v, int64_t& field) {
  if (!v) return;
  if (*v < 1) throw model_error(std::string(flag) + " must be a positive integer, got " + std::to_string(*v));
  if (*v > k_max_size) throw model_error(std::string(flag) + " " + std::to_string(*v) + " is too large");
  field = *v;
}

}  // namespace

llama_config apply_overrides(llama_config c, const llama_overrides& o) {
  set("--layers", o.layers, c.num_hidden_layers);
  set("--hidden", o.hidden, c.hidden_size);
  set("--heads", o.heads, c.num_attention_heads);
  set("--kv-heads", o.kv_heads, c.num_key_value_heads);
  set("--ffn", o.ffn, c.intermediate_size);
  set("--vocab", o.vocab, c.vocab_size);
  set("--context", o.context, c.max_position_embeddings);
  if ((o.hidden || o.heads) && !o.head_dim) c.head_dim = 0;
  set("--head-dim", o.head_dim, c.head_dim);
  if (o.rope_theta) {
    if (!(*o.rope_theta > 0) || !std::isfinite(*o.rope_theta))
      throw model_error("--rope-theta must be a positive number, got " + std::to_string(*o.rope_theta));
    c.rope_theta = *o.rope_theta;
  }
  if (o.tie_embeddings) c.tie_word_embeddings = true;
  if (o.attention_bias) c.attention_bias = true;
  if (o.vocab && c.bos_token_id >= 0 && *o.vocab <= std::max({c.bos_token_id, c.eos_token_id, c.pad_token_id}))
    throw model_error("--vocab " + std::to_string(*o.vocab) + " leaves out the tokenizer's special ids (need > " +
                      std::to_string(std::max({c.bos_token_id, c.eos_token_id, c.pad_token_id})) + ")");

  if (c.head_dim == 0 && c.hidden_size % c.num_attention_heads != 0)
    throw model_error("--hidden " + std::to_string(c.hidden_size) + " is not a multiple of --heads " +
                      std::to_string(c.num_attention_heads) + " (or give --head-dim)");
  if (c.head_dim == 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  if (c.head_dim % 2 != 0)
    throw model_error("--head-dim " + std::to_string(c.head_dim) +
                      " (given, or --hidden / --heads) must be even for rotary embeddings");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw model_error("--kv-heads " + std::to_string(c.num_key_value_heads) + " must divide --heads " +
                      std::to_string(c.num_attention_heads));
  if (o.layers || o.hidden || o.heads || o.kv_heads || o.ffn || o.vocab || o.context || o.head_dim || o.rope_theta ||
      o.tie_embeddings || o.attention_bias)
    c.name += "-custom";
  validate(c);
  return c;
}

}  // namespace tessera::model
