// Importing a Hugging Face checkpoint directory (config.json, model.safetensors or a sharded
// model.safetensors.index.json, tokenizer files) as a Tessera model directory. This is
// `tessera model build --from-hf DIR --out OUT [--dtype fp32|fp16]`.
//
// Supported architectures: LlamaForCausalLM (incl. Llama-3 rope_scaling), MistralForCausalLM,
// Qwen2ForCausalLM (q/k/v biases); tied embeddings; GQA; explicit head_dim. Everything is
// checked before anything is written (architecture, config keys, every tensor's presence,
// shape and dtype, the tokenizer), and the output appears atomically, so a bad checkpoint
// never leaves a half-written OUT.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/build/llama_builder.hpp"
#include "model/build/llama_config.hpp"
#include "model/build/safetensors.hpp"
#include "model/build/weight_source.hpp"

namespace tessera::model {

// The architectures build_from_hf accepts (config.json "architectures").
const std::vector<std::string>& supported_hf_architectures();

// Reads DIR/config.json; throws model_error for an unsupported architecture (naming it) or a
// missing/invalid key (naming the key).
llama_config read_hf_config(const std::string& hf_dir);

// Weights straight from the checkpoint's safetensors files, one tensor at a time, converted
// from BF16/F16/F32 to float32. Opening it parses and checks every shard's header.
class safetensors_weight_source final : public weight_source {
public:
  explicit safetensors_weight_source(const std::string& hf_dir);
  std::vector<float> load(const std::string& hf_name, const std::vector<int64_t>& hf_shape) override;
  std::string describe() const override;
  // Throws model_error unless the tensor exists with this shape and a float dtype.
  void require(const std::string& hf_name, const std::vector<int64_t>& hf_shape) const;
  // Every tensor name the checkpoint holds (listed in the index or not).
  std::vector<std::string> tensor_names() const;

private:
  const safetensors_tensor& find(const std::string& hf_name, const std::vector<int64_t>& hf_shape,
                                 const safetensors_file** file) const;
  std::string dir_;
  std::vector<std::unique_ptr<safetensors_file>> files_;
  std::map<std::string, const safetensors_file*> by_tensor_;
};

// The Hugging Face tensors (name, shape) a Llama-family model of `config` consists of.
std::vector<std::pair<std::string, std::vector<int64_t>>> hf_tensor_shapes(const llama_config& config);

// Imports `hf_dir` into `out_dir` (see above). Copies the tokenizer files (tokenizer.json,
// tokenizer.model, tokenizer_config.json, special_tokens_map.json, generation_config.json).
build_result build_from_hf(const std::string& hf_dir, const std::string& out_dir, weight_dtype dtype);

// Writes a checkpoint in Hugging Face layout from any weight source: config.json (with
// "architectures"), and the tensors as `dtype` ("F32", "F16", "BF16") in `shards` files
// (with model.safetensors.index.json when shards > 1). For tests and tools.
void write_hf_checkpoint(const llama_config& config, weight_source& weights, const std::string& hf_dir,
                         const std::string& dtype = "BF16", int shards = 1);

}  // namespace tessera::model
