#include "model/build/hf_import.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "model/base/json_file.hpp"
#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;

namespace tessera::model {
namespace {

const char* const tokenizer_files[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                       "special_tokens_map.json", "generation_config.json"};

std::string architecture_of(const nlohmann::json& j) {
  if (auto a = j.find("architectures"); a != j.end() && a->is_array() && !a->empty() && (*a)[0].is_string())
    return (*a)[0].get<std::string>();
  const std::string type = j.value("model_type", std::string());  // older configs: only model_type
  if (type == "llama") return "LlamaForCausalLM";
  if (type == "mistral") return "MistralForCausalLM";
  if (type == "qwen2") return "Qwen2ForCausalLM";
  return type.empty() ? std::string("(none)") : "model_type " + type;
}

}  // namespace

const std::vector<std::string>& supported_hf_architectures() {
  static const std::vector<std::string> names = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
  return names;
}

llama_config read_hf_config(const std::string& hf_dir) {
  const fs::path path = fs::path(hf_dir) / "config.json";
  if (!fs::exists(path)) throw model_error(hf_dir + ": no config.json (expected a Hugging Face checkpoint directory)");
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw model_error(path.string() + ": expected a JSON object");
  const std::string arch = architecture_of(j);
  const auto& ok = supported_hf_architectures();
  if (std::find(ok.begin(), ok.end(), arch) == ok.end())
    throw model_error(path.string() + ": unsupported architecture '" + arch +
                      "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
  llama_config c;
  try {
    c = from_hf_config_json(j);
  } catch (const model_error& e) {
    throw model_error(path.string() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path.string() + ": " + e.what());
  }
  if (arch == "Qwen2ForCausalLM") c.attention_bias = true;
  // Llama/Mistral with attention_bias also bias o_proj, and mlp_bias biases the MLP: neither is
  // in Tessera's graph, so refuse rather than build a silently different model.
  if (arch != "Qwen2ForCausalLM" && c.attention_bias)
    throw model_error(path.string() + ": \"attention_bias\": true on " + arch + " (o_proj bias) is not supported");
  if (j.value("mlp_bias", false)) throw model_error(path.string() + ": \"mlp_bias\": true is not supported");
  if (auto sw = j.find("sliding_window"); sw != j.end() && sw->is_number_integer() &&
                                          j.value("use_sliding_window", arch == "MistralForCausalLM") &&
                                          sw->get<int64_t>() < c.max_position_embeddings) {
    spdlog::warn("hf_import: {} uses sliding_window={} but Tessera attends to the full context; outputs match only "
                 "up to {} tokens",
                 arch, sw->get<int64_t>(), sw->get<int64_t>());
  }
  if (c.name.empty() || c.name == c.model_type) c.name = fs::path(hf_dir).filename().string();
  return c;
}

safetensors_weight_source::safetensors_weight_source(const std::string& hf_dir) : dir_(hf_dir) {
  const fs::path dir(hf_dir);
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;
  if (fs::exists(index)) {
    const auto j = read_json_file(index);
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object()) throw model_error(index.string() + ": no \"weight_map\" object");
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) throw model_error(index.string() + ": weight_map[\"" + it.key() + "\"] is not a file name");
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
        throw model_error(index.string() + ": weight_map[\"" + it.key() + "\"] = '" + file + "' is not a file in the directory");
      weight_map[it.key()] = file;
      if (std::find(shard_names.begin(), shard_names.end(), file) == shard_names.end()) shard_names.push_back(file);
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else if (fs::exists(dir / "pytorch_model.bin") || fs::exists(dir / "pytorch_model.bin.index.json")) {
    throw model_error(hf_dir + ": only safetensors checkpoints are read (found pytorch_model.bin: convert it to "
                               "model.safetensors first, e.g. with the checkpoint's save_pretrained(safe_serialization=True))");
  } else {
    throw model_error(hf_dir + ": no model.safetensors or model.safetensors.index.json");
  }
  std::map<std::string, const safetensors_file*> by_file;
  for (const auto& name : shard_names) {
    if (!fs::exists(dir / name)) throw model_error(hf_dir + ": shard '" + name + "' named by the index is missing");
    files_.push_back(std::make_unique<safetensors_file>((dir / name).string()));
    by_file[name] = files_.back().get();
  }
  if (!weight_map.empty()) {
    for (const auto& [tensor, file] : weight_map) {
      const safetensors_file* f = by_file.at(file);
      if (!f->find(tensor)) throw model_error(f->path() + ": tensor '" + tensor + "' listed in the index is not in this shard");
      by_tensor_[tensor] = f;
    }
  } else {
    for (const auto& [tensor, t] : files_.front()->tensors()) by_tensor_[tensor] = files_.front().get();
  }
}

const safetensors_tensor& safetensors_weight_source::find(const std::string& hf_name, const std::vector<int64_t>& hf_shape,
                                                          const safetensors_file** file) const {
  auto it = by_tensor_.find(hf_name);
  if (it == by_tensor_.end())
    throw model_error(dir_ + ": checkpoint has no tensor '" + hf_name + "' (expected shape " + shape_string(hf_shape) + ")");
  const safetensors_tensor* t = it->second->find(hf_name);
  if (t->shape != hf_shape)
    throw model_error(it->second->path() + ": tensor '" + hf_name + "' has shape " + shape_string(t->shape) + ", expected " +
                      shape_string(hf_shape));
  if (t->dtype != "F32" && t->dtype != "F16" && t->dtype != "BF16")
    throw model_error(it->second->path() + ": tensor '" + hf_name + "' has dtype " + t->dtype + " (supported: F32, F16, BF16)");
  *file = it->second;
  return *t;
}

void safetensors_weight_source::require(const std::string& hf_name, const std::vector<int64_t>& hf_shape) const {
  const safetensors_file* f = nullptr;
  find(hf_name, hf_shape, &f);
}

std::vector<float> safetensors_weight_source::load(const std::string& hf_name, const std::vector<int64_t>& hf_shape) {
  const safetensors_file* f = nullptr;
  const safetensors_tensor& t = find(hf_name, hf_shape, &f);
  return f->read_float32(t);
}

std::string safetensors_weight_source::describe() const { return "safetensors(" + dir_ + ")"; }

std::vector<std::string> safetensors_weight_source::tensor_names() const {
  std::vector<std::string> names;  // the index's entries and anything else the shards hold
  for (const auto& [name, file] : by_tensor_) names.push_back(name);
  for (const auto& f : files_)
    for (const auto& [name, t] : f->tensors())
      if (!by_tensor_.count(name)) names.push_back(name);
  return names;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> hf_tensor_shapes(const llama_config& c) {
  const int64_t hd = c.resolved_head_dim();
  const int64_t q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    out.push_back({p + ".input_layernorm.weight", {c.hidden_size}});
    out.push_back({p + ".self_attn.q_proj.weight", {q, c.hidden_size}});
    out.push_back({p + ".self_attn.k_proj.weight", {kv, c.hidden_size}});
    out.push_back({p + ".self_attn.v_proj.weight", {kv, c.hidden_size}});
    if (c.attention_bias) {
      out.push_back({p + ".self_attn.q_proj.bias", {q}});
      out.push_back({p + ".self_attn.k_proj.bias", {kv}});
      out.push_back({p + ".self_attn.v_proj.bias", {kv}});
    }
    out.push_back({p + ".self_attn.o_proj.weight", {c.hidden_size, q}});
    out.push_back({p + ".post_attention_layernorm.weight", {c.hidden_size}});
    out.push_back({p + ".mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}});
    out.push_back({p + ".mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}});
    out.push_back({p + ".mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}});
  }
  out.push_back({"model.norm.weight", {c.hidden_size}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}});
  return out;
}

build_result build_from_hf(const std::string& hf_dir, const std::string& out_dir, weight_dtype dtype) {
  if (!fs::is_directory(hf_dir)) throw model_error("--from-hf " + hf_dir + ": not a directory");
  const llama_config config = read_hf_config(hf_dir);

  // The tokenizer must load (and fit the model's vocabulary) before anything is written.
  const auto tok = load_tokenizer(hf_dir);
  if (tok->vocab_size() > static_cast<std::size_t>(config.vocab_size))
    throw model_error(hf_dir + ": tokenizer has " + std::to_string(tok->vocab_size()) + " tokens but config.json vocab_size is " +
                      std::to_string(config.vocab_size));

  safetensors_weight_source weights(hf_dir);
  const auto expected = hf_tensor_shapes(config);
  for (const auto& [name, shape] : expected) weights.require(name, shape);
  // A tensor the graph would not use means a different architecture: refuse, naming it.
  std::vector<std::string> unused;
  for (const auto& name : weights.tensor_names()) {
    const bool known = std::any_of(expected.begin(), expected.end(), [&](const auto& e) { return e.first == name; });
    const bool harmless = name.size() >= 20 && name.compare(name.size() - 20, 20, "rotary_emb.inv_freq") == 0;
    if (!known && !harmless && !(config.tie_word_embeddings && name == "lm_head.weight")) unused.push_back(name);
  }
  if (!unused.empty())
    throw model_error(hf_dir + ": checkpoint has " + std::to_string(unused.size()) + " tensor(s) a " +
                      "Llama-family graph does not use, e.g. '" + unused.front() + "' (unsupported architecture variant)");

  build_options options;
  options.dtype = dtype;
  options.write_byte_tokenizer = false;
  options.add_files = [&](const std::string& tmp) {
    for (const char* f : tokenizer_files)
      if (fs::exists(fs::path(hf_dir) / f)) fs::copy_file(fs::path(hf_dir) / f, fs::path(tmp) / f, fs::copy_options::overwrite_existing);
  };
  spdlog::info("hf_import: dir={} layers={} hidden={} heads={}/{} vocab={} tokenizer={} dtype={}", hf_dir,
               config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads,
               config.vocab_size, tok->kind(), to_string(dtype));
  return build_llama_model(config, weights, out_dir, options);
}

void write_hf_checkpoint(const llama_config& config, weight_source& weights, const std::string& hf_dir,
                         const std::string& dtype, int shards) {
  if (shards < 1) throw model_error("write_hf_checkpoint: shards must be >= 1");
  const fs::path dir(hf_dir);
  fs::create_directories(dir);
  const auto tensors = hf_tensor_shapes(config);
  const std::size_t per_shard = (tensors.size() + static_cast<std::size_t>(shards) - 1) / static_cast<std::size_t>(shards);
  nlohmann::json weight_map = nlohmann::json::object();
  for (int s = 0; s < shards; ++s) {
    std::vector<safetensors_entry> entries;
    for (std::size_t i = static_cast<std::size_t>(s) * per_shard; i < std::min(tensors.size(), (static_cast<std::size_t>(s) + 1) * per_shard); ++i)
      entries.push_back({tensors[i].first, tensors[i].second, dtype, weights.load(tensors[i].first, tensors[i].second)});
    char name[64];
    if (shards == 1) std::snprintf(name, sizeof name, "model.safetensors");
    else std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    for (const auto& e : entries) weight_map[e.name] = name;
    write_safetensors((dir / name).string(), entries, {{"format", "pt"}});
  }
  if (shards > 1) {
    std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}}.dump(2);
  }
  nlohmann::json cfg = to_hf_config_json(config, dtype == "F32" ? "float32" : dtype == "F16" ? "float16" : "bfloat16");
  cfg["architectures"] = {config.model_type == "qwen2" ? "Qwen2ForCausalLM" : config.model_type == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"};
  std::ofstream(dir / "config.json") << cfg.dump(2);
}

}  // namespace tessera::model
