// Presets, validation and Hugging Face config.json conversion for llama_config.
#include "model/build/llama_config.hpp"

#include <cmath>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

llama_config byte_vocab_preset(const std::string& name, int64_t layers, int64_t hidden, int64_t heads,
                               int64_t kv_heads, int64_t ffn, int64_t context) {
  llama_config c;
  c.name = name;
  c.num_hidden_layers = layers;
  c.hidden_size = hidden;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.intermediate_size = ffn;
  c.vocab_size = 259;  // bytes 0..255 + bos 256, eos 257, pad 258 (the byte tokenizer)
  c.max_position_embeddings = context;
  c.head_dim = hidden / heads;
  c.bos_token_id = 256;
  c.eos_token_id = 257;
  c.pad_token_id = 258;
  return c;
}

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw model_error("model config: " + key + " " + why);
}

int64_t get_int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw model_error(std::string("config.json: missing \"") + key + "\"");
  if (!it->is_number_integer())
    throw model_error(std::string("config.json: \"") + key + "\" must be an integer, got " + it->dump());
  return it->get<int64_t>();
}

int64_t token_id(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  if (it->is_array()) return it->empty() ? -1 : (*it)[0].get<int64_t>();  // Llama-3 lists several eos ids
  if (!it->is_number_integer())
    throw model_error(std::string("config.json: \"") + key + "\" must be an integer, got " + it->dump());
  return it->get<int64_t>();
}

}  // namespace

int64_t llama_config::resolved_head_dim() const {
  if (head_dim > 0) return head_dim;
  return num_attention_heads > 0 ? hidden_size / num_attention_heads : 0;
}

uint64_t llama_config::parameter_count() const {
  const uint64_t h = hidden_size, hd = resolved_head_dim();
  const uint64_t q = num_attention_heads * hd, kv = num_key_value_heads * hd;
  uint64_t layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
  if (attention_bias) layer += q + 2 * kv;
  uint64_t total = layer * num_hidden_layers + vocab_size * h + h;
  if (!tie_word_embeddings) total += vocab_size * h;
  return total;
}

std::vector<std::string> preset_names() { return {"tiny", "small", "medium"}; }

llama_config preset_config(const std::string& name) {
  if (name == "tiny") return byte_vocab_preset("tiny", 4, 64, 4, 2, 128, 256);
  if (name == "small") return byte_vocab_preset("small", 12, 512, 8, 4, 2048, 1024);
  if (name == "medium") return byte_vocab_preset("medium", 24, 1024, 16, 8, 4096, 2048);
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw model_error("unknown preset '" + name + "' (known: " + known + ")");
}

void validate(const llama_config& c) {
  auto positive = [](const char* key, int64_t v) {
    if (v <= 0) bad(key, "must be positive, got " + std::to_string(v));
  };
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("hidden_size", c.hidden_size);
  positive("num_attention_heads", c.num_attention_heads);
  positive("num_key_value_heads", c.num_key_value_heads);
  positive("intermediate_size", c.intermediate_size);
  positive("vocab_size", c.vocab_size);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.head_dim < 0) bad("head_dim", "must be positive, got " + std::to_string(c.head_dim));
  if (c.head_dim == 0 && c.hidden_size % c.num_attention_heads != 0)
    bad("hidden_size", std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                           std::to_string(c.num_attention_heads) + " (or set head_dim)");
  const int64_t hd = c.resolved_head_dim();
  if (hd % 2 != 0) bad("head_dim", std::to_string(hd) + " must be even for rotary embeddings");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    bad("num_key_value_heads", std::to_string(c.num_key_value_heads) + " must divide num_attention_heads " +
                                   std::to_string(c.num_attention_heads));
  if (!(c.rope_theta > 0) || !std::isfinite(c.rope_theta))
    bad("rope_theta", "must be a positive number, got " + std::to_string(c.rope_theta));
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps))
    bad("rms_norm_eps", "must be a positive number, got " + std::to_string(c.rms_norm_eps));
  // Sizes beyond this overflow int32 shape arithmetic in some runtimes; nobody needs them here.
  const int64_t limit = int64_t(1) << 24;
  for (auto [key, v] : {std::pair<const char*, int64_t>{"num_hidden_layers", c.num_hidden_layers},
                        {"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
                        {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_position_embeddings},
                        {"num_attention_heads", c.num_attention_heads}}) {
    if (v > limit) bad(key, std::to_string(v) + " is too large (limit " + std::to_string(limit) + ")");
  }
  if (c.rope_scaling) {
    const auto& s = *c.rope_scaling;
    if (s.rope_type != "llama3") bad("rope_scaling.rope_type", "'" + s.rope_type + "' is not supported (llama3 only)");
    if (!(s.factor > 0)) bad("rope_scaling.factor", "must be positive");
    if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor))
      bad("rope_scaling.high_freq_factor", "must exceed low_freq_factor > 0");
    if (s.original_max_position_embeddings <= 0) bad("rope_scaling.original_max_position_embeddings", "must be positive");
  }
}

nlohmann::json to_hf_config_json(const llama_config& c, const std::string& torch_dtype) {
  nlohmann::json j;
  j["architectures"] = {c.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = c.model_type;
  j["name_or_path"] = c.name;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["hidden_size"] = c.hidden_size;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["intermediate_size"] = c.intermediate_size;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["head_dim"] = c.resolved_head_dim();
  j["rope_theta"] = c.rope_theta;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = "silu";
  j["attention_bias"] = c.attention_bias;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  if (c.rope_scaling) {
    j["rope_scaling"] = {{"rope_type", c.rope_scaling->rope_type},
                         {"factor", c.rope_scaling->factor},
                         {"low_freq_factor", c.rope_scaling->low_freq_factor},
                         {"high_freq_factor", c.rope_scaling->high_freq_factor},
                         {"original_max_position_embeddings", c.rope_scaling->original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  return j;
}

llama_config from_hf_config_json(const nlohmann::json& j) {
  if (!j.is_object()) throw model_error("config.json: expected a JSON object");
  llama_config c;
  c.model_type = j.value("model_type", std::string("llama"));
  c.name = j.value("name_or_path", j.value("_name_or_path", c.model_type));
  c.num_hidden_layers = get_int(j, "num_hidden_layers");
  c.hidden_size = get_int(j, "hidden_size");
  c.num_attention_heads = get_int(j, "num_attention_heads");
  c.num_key_value_heads =
      j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null() ? get_int(j, "num_key_value_heads")
                                                                              : c.num_attention_heads;
  c.intermediate_size = get_int(j, "intermediate_size");
  c.vocab_size = get_int(j, "vocab_size");
  c.max_position_embeddings = get_int(j, "max_position_embeddings");
  if (j.contains("head_dim") && !j["head_dim"].is_null()) c.head_dim = get_int(j, "head_dim");
  c.rope_theta = j.value("rope_theta", 10000.0);
  c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
  // Qwen2 has q/k/v biases but no "attention_bias" key.
  c.attention_bias = j.value("attention_bias", c.model_type == "qwen2");
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  if (auto act = j.value("hidden_act", std::string("silu")); act != "silu")
    throw model_error("config.json: \"hidden_act\" '" + act + "' is not supported (silu only)");
  if (j.value("use_sliding_window", false))
    throw model_error("config.json: \"use_sliding_window\" true is not supported (full causal attention only)");
  if (j.value("mlp_bias", false)) throw model_error("config.json: \"mlp_bias\" true is not supported");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& s = j["rope_scaling"];
    rope_scaling_config r;
    r.rope_type = s.value("rope_type", s.value("type", std::string()));
    if (r.rope_type != "llama3")
      throw model_error("config.json: rope_scaling type '" + r.rope_type + "' is not supported (llama3 only)");
    r.factor = s.value("factor", r.factor);
    r.low_freq_factor = s.value("low_freq_factor", r.low_freq_factor);
    r.high_freq_factor = s.value("high_freq_factor", r.high_freq_factor);
    r.original_max_position_embeddings =
        s.value("original_max_position_embeddings", r.original_max_position_embeddings);
    c.rope_scaling = r;
  }
  c.bos_token_id = token_id(j, "bos_token_id");
  c.eos_token_id = token_id(j, "eos_token_id");
  c.pad_token_id = token_id(j, "pad_token_id");
  validate(c);
  return c;
}

std::vector<float> rope_inverse_frequencies(const llama_config& c) {
  const int64_t hd = c.resolved_head_dim();
  std::vector<float> out;
  out.reserve(hd / 2);
  constexpr double pi = 3.14159265358979323846;
  for (int64_t i = 0; i < hd / 2; ++i) {
    double f = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(hd));
    if (c.rope_scaling) {
      // Llama 3.1: long wavelengths are divided by `factor`, short ones kept,
      // the band between interpolated smoothly.
      const auto& s = *c.rope_scaling;
      const double old_ctx = double(s.original_max_position_embeddings);
      const double low_wavelen = old_ctx / s.low_freq_factor;
      const double high_wavelen = old_ctx / s.high_freq_factor;
      const double wavelen = 2 * pi / f;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
    out.push_back(float(f));
  }
  return out;
}

}  // namespace tessera::model
