// Where the builder's weights come from.
//
// Contract (every weight_source honours it; the builder relies on nothing else):
// - The builder calls `load(name, shape)` once per tensor it writes, naming the
//   tensor by its Hugging Face name (`model.embed_tokens.weight`,
//   `model.layers.3.self_attn.q_proj.weight`, `model.layers.3.self_attn.q_proj.bias`,
//   `model.layers.3.mlp.gate_proj.weight`, `model.layers.3.input_layernorm.weight`,
//   `model.norm.weight`, `lm_head.weight`, ...) and by its Hugging Face shape
//   (Linear weights are [out_features, in_features]; norms and biases are [n]).
// - `load` returns exactly product(shape) float32 values in that row-major HF
//   layout; the builder transposes Linear weights to MatMul's [in, out] itself
//   and converts to fp16 itself when asked to.
// - A source that lacks the tensor, or holds it with another shape, throws
//   model_error naming the tensor (and both shapes). It never returns partial data.
// - The order of calls is unspecified, and a tensor may be asked for twice
//   (with tied embeddings `model.embed_tokens.weight` is read again for the
//   head); the values must not depend on call order.
// - One tensor at a time is resident in the builder: a source need not (and
//   should not) hold the whole checkpoint in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tessera::model {

class weight_source {
public:
  virtual ~weight_source() = default;
  virtual std::vector<float> load(const std::string& hf_name, const std::vector<int64_t>& hf_shape) = 0;
  // One line for logs and metadata, e.g. "seeded(seed=7)" or "safetensors(/path)".
  virtual std::string describe() const = 0;
};

// Deterministic synthetic weights: each tensor's values depend only on (seed,
// tensor name, shape), never on call order, and are the same on every platform
// (own PRNG and normal transform, no <random> distributions).
// Scales keep a random model's activations and logits well spread:
//   *layernorm.weight / model.norm.weight: 1 + N(0, 0.05^2)
//   *.bias:                                N(0, 0.02^2)
//   model.embed_tokens.weight:             N(0, 1)
//   other matrices [out, in]:              N(0, 1/in)  (lm_head logits have std ~1)
std::unique_ptr<weight_source> seeded_weight_source(uint64_t seed);

// Helpers shared by sources.
uint64_t element_count(const std::vector<int64_t>& shape);
std::string shape_string(const std::vector<int64_t>& shape);  // "[64, 259]"

}  // namespace tessera::model
