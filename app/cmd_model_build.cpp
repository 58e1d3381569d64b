// `tessera model build --preset NAME --out DIR [--seed N] [--dtype fp32|fp16] [overrides]`:
// writes a seeded Llama-family model directory (see model/llama_builder.hpp).
#include <chrono>
#include <cstdio>
#include <string>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "model/llama_builder.hpp"
#include "model/model_error.hpp"

namespace tessera::app {
namespace {

constexpr const char* k_usage =
    "usage: tessera model build --preset tiny|small|medium --out DIR [--seed N] [--dtype fp32|fp16]\n"
    "         [--layers N] [--hidden N] [--heads N] [--kv-heads N] [--ffn N] [--vocab N] [--context N]\n"
    "         [--head-dim N] [--rope-theta X] [--tie-embeddings] [--attention-bias]";

// Applies an integer override, rejecting values < 1 by naming the flag.
void override_int(const cli_args& a, const std::string& flag, int64_t& field) {
  if (!a.has(flag)) return;
  const long long v = a.get_int(flag, 0);
  if (v < 1) throw usage_error(flag + " must be a positive integer, got " + std::to_string(v));
  if (v > (1LL << 24)) throw usage_error(flag + " " + std::to_string(v) + " is too large");
  field = v;
}

}  // namespace

int run_model_build(const arg_list& args) {
  const cli_args a(args,
                   {"--preset", "--out", "--seed", "--dtype", "--layers", "--hidden", "--heads", "--kv-heads", "--ffn",
                    "--vocab", "--context", "--head-dim", "--rope-theta"},
                   {"--tie-embeddings", "--attention-bias", "--help"});
  if (a.has("--help")) {
    std::puts(k_usage);
    return 0;
  }
  if (!a.positionals().empty()) throw usage_error("unexpected argument '" + a.positionals()[0] + "'\n" + k_usage);
  const std::string out = a.require("--out");
  const std::string preset = a.get_or("--preset", "tiny");

  model::llama_config config;
  try {
    config = model::preset_config(preset);
  } catch (const model::model_error& e) {
    throw usage_error(std::string("--preset: ") + e.what());
  }
  const bool hidden_or_heads = a.has("--hidden") || a.has("--heads");
  override_int(a, "--layers", config.num_hidden_layers);
  override_int(a, "--hidden", config.hidden_size);
  override_int(a, "--heads", config.num_attention_heads);
  override_int(a, "--kv-heads", config.num_key_value_heads);
  override_int(a, "--ffn", config.intermediate_size);
  override_int(a, "--vocab", config.vocab_size);
  override_int(a, "--context", config.max_position_embeddings);
  // A preset's head_dim follows --hidden / --heads unless --head-dim is given.
  if (hidden_or_heads) config.head_dim = 0;
  override_int(a, "--head-dim", config.head_dim);
  if (a.has("--rope-theta")) {
    const double theta = a.get_double("--rope-theta", 0);
    if (!(theta > 0)) throw usage_error("--rope-theta must be positive, got " + *a.get("--rope-theta"));
    config.rope_theta = theta;
  }
  if (a.has("--tie-embeddings")) config.tie_word_embeddings = true;
  if (a.has("--attention-bias")) config.attention_bias = true;
  if (config.vocab_size < 259 && (a.has("--vocab")))
    throw usage_error("--vocab " + std::to_string(config.vocab_size) + " is smaller than the byte tokenizer's 259 ids");

  // Cross-field rules, named by flag.
  if (config.head_dim == 0 && config.hidden_size % config.num_attention_heads != 0)
    throw usage_error("--hidden " + std::to_string(config.hidden_size) + " is not a multiple of --heads " +
                      std::to_string(config.num_attention_heads) + " (or give --head-dim)");
  if (config.resolved_head_dim() % 2 != 0)
    throw usage_error("head dim " + std::to_string(config.resolved_head_dim()) +
                      " (--hidden / --heads, or --head-dim) must be even for rotary embeddings");
  if (config.num_attention_heads % config.num_key_value_heads != 0)
    throw usage_error("--kv-heads " + std::to_string(config.num_key_value_heads) + " must divide --heads " +
                      std::to_string(config.num_attention_heads));
  if (config.head_dim == 0) config.head_dim = config.resolved_head_dim();
  model::validate(config);

  const long long seed = a.get_int("--seed", 0);
  if (seed < 0) throw usage_error("--seed must be non-negative, got " + std::to_string(seed));
  model::build_options options;
  try {
    options.dtype = model::parse_weight_dtype(a.get_or("--dtype", "fp32"));
  } catch (const model::model_error& e) {
    throw usage_error(std::string("--dtype: ") + e.what());
  }

  auto weights = model::seeded_weight_source(uint64_t(seed));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = model::build_llama_model(config, *weights, out, options);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("built %s: %lld layers, %llu parameters, %s weights; model.onnx %llu bytes, model.onnx.data %llu bytes, %.2f s\n",
              r.out_dir.c_str(), static_cast<long long>(config.num_hidden_layers),
              static_cast<unsigned long long>(r.parameter_count), model::to_string(options.dtype).c_str(),
              static_cast<unsigned long long>(r.onnx_bytes), static_cast<unsigned long long>(r.data_bytes), secs);
  return 0;
}

}  // namespace tessera::app
