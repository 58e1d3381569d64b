// The shape of a Llama-family decoder (Llama 2/3, Qwen2-style attention bias):
// the presets `tessera model build` knows, validation that names the bad field,
// and conversion to and from Hugging Face's config.json key names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::model {

// Llama-3 style frequency-dependent RoPE scaling (config.json "rope_scaling"
// with "rope_type": "llama3"); applied to the inverse frequencies.
struct rope_scaling_config {
  std::string rope_type = "llama3";
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct llama_config {
  std::string name = "custom";        // preset name, or the checkpoint's name
  std::string model_type = "llama";   // config.json "model_type" ("llama", "qwen2", ...)
  int64_t num_hidden_layers = 0;
  int64_t hidden_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t head_dim = 0;               // 0 = hidden_size / num_attention_heads
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool attention_bias = false;        // q/k/v projections carry a bias (Qwen2)
  bool tie_word_embeddings = false;   // lm_head shares model.embed_tokens.weight
  std::optional<rope_scaling_config> rope_scaling;
  int64_t bos_token_id = -1;          // -1 = not set
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;

  // head_dim, or hidden_size / num_attention_heads when head_dim is 0.
  int64_t resolved_head_dim() const;
  // Number of weights (tied embeddings counted once).
  uint64_t parameter_count() const;
};

// Names of the built-in presets: "tiny", "small", "medium".
std::vector<std::string> preset_names();
// The preset's config; throws model_error naming the unknown preset and listing the known ones.
llama_config preset_config(const std::string& name);

// Throws model_error naming the first bad field (by its config.json key) and value.
void validate(const llama_config& config);

// config.json in Hugging Face's key names. `torch_dtype` is "float32" or "float16".
nlohmann::json to_hf_config_json(const llama_config& config, const std::string& torch_dtype);
// Reads a Hugging Face config.json object (LlamaForCausalLM, Qwen2ForCausalLM, ...);
// missing required keys and unsupported rope_scaling types throw model_error naming the key.
llama_config from_hf_config_json(const nlohmann::json& j);

// RoPE inverse frequencies, head_dim / 2 values: theta^(-2i/head_dim), with
// Llama-3 rope_scaling applied when configured.
std::vector<float> rope_inverse_frequencies(const llama_config& config);

}  // namespace tessera::model
