// `tessera model build --preset NAME --out DIR [--seed N] [--dtype fp32|fp16] [overrides]`:
// writes a seeded Llama-family model directory (see model/build/llama_builder.hpp).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "model/base/model_error.hpp"
#include "model/build/hf_import.hpp"
#include "model/build/llama_builder.hpp"
#include "model/build/llama_overrides.hpp"

namespace tessera::app {
namespace {

constexpr const char* k_usage =
    "usage: tessera model build --preset tiny|small|medium --out DIR [--seed N] [--dtype fp32|fp16]\n"
    "         [--layers N] [--hidden N] [--heads N] [--kv-heads N] [--ffn N] [--vocab N] [--context N]\n"
    "         [--head-dim N] [--rope-theta X] [--tie-embeddings] [--attention-bias]\n"
    "   or: tessera model build --from-hf HF_CHECKPOINT_DIR --out DIR [--dtype fp32|fp16]";

std::optional<int64_t> int_flag(const cli_args& a, const std::string& flag) {
  if (!a.has(flag)) return std::nullopt;
  return a.get_int(flag, 0);
}

}  // namespace

int run_model_build(const arg_list& args) {
  const cli_args a(args,
                   {"--preset", "--from-hf", "--out", "--seed", "--dtype", "--layers", "--hidden", "--heads", "--kv-heads", "--ffn",
                    "--vocab", "--context", "--head-dim", "--rope-theta"},
                   {"--tie-embeddings", "--attention-bias", "--help"});
  if (a.has("--help")) {
    std::puts(k_usage);
    return 0;
  }
  if (!a.positionals().empty()) throw usage_error("unexpected argument '" + a.positionals()[0] + "'\n" + k_usage);
  const std::string out = a.require("--out");
  if (const auto hf_dir = a.get("--from-hf")) {  // a Hugging Face checkpoint (model/build/hf_import.hpp)
    for (const char* f : {"--preset", "--seed", "--layers", "--hidden", "--heads", "--kv-heads", "--ffn", "--vocab",
                          "--context", "--head-dim", "--rope-theta", "--tie-embeddings", "--attention-bias"})
      if (a.has(f)) throw usage_error(std::string(f) + " does not apply to --from-hf (the checkpoint's config.json decides)");
    model::weight_dtype dtype;
    try {
      dtype = model::parse_weight_dtype(a.get_or("--dtype", "fp32"));
    } catch (const model::model_error& e) {
      throw usage_error(std::string("--dtype: ") + e.what());
    }
    const auto r = model::build_from_hf(*hf_dir, out, dtype);
    std::printf("imported %s into %s: %llu parameters, %s weights; model.onnx.data %llu bytes\n", hf_dir->c_str(),
                r.out_dir.c_str(), static_cast<unsigned long long>(r.parameter_count), model::to_string(dtype).c_str(),
                static_cast<unsigned long long>(r.data_bytes));
    return 0;
  }
  const std::string preset = a.get_or("--preset", "tiny");

  model::llama_config config;
  try {
    config = model::preset_config(preset);
  } catch (const model::model_error& e) {
    throw usage_error(std::string("--preset: ") + e.what());
  }
  model::llama_overrides o;
  o.layers = int_flag(a, "--layers");
  o.hidden = int_flag(a, "--hidden");
  o.heads = int_flag(a, "--heads");
  o.kv_heads = int_flag(a, "--kv-heads");
  o.ffn = int_flag(a, "--ffn");
  o.vocab = int_flag(a, "--vocab");
  o.context = int_flag(a, "--context");
  o.head_dim = int_flag(a, "--head-dim");
  if (a.has("--rope-theta")) o.rope_theta = a.get_double("--rope-theta", 0);
  o.tie_embeddings = a.has("--tie-embeddings");
  o.attention_bias = a.has("--attention-bias");
  try {
    config = model::apply_overrides(config, o);
  } catch (const model::model_error& e) {
    throw usage_error(e.what());
  }

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
