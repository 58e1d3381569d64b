// Writes the inputs of the end-to-end import test: OUT/hf, a Hugging Face checkpoint (two BF16
// shards + index, Llama-3 config with rope scaling, the real Llama-3 tokenizer files), and
// OUT/seeded, Tessera's own build of exactly those (bf16-rounded) weights. The test then runs
// `tessera model build --from-hf OUT/hf --out OUT/imported` and compares logits in ORT.
// Usage: hf_import_fixture OUT_DIR LLAMA3_TOKENIZER_DIR [PRESET [--no-seeded]]
//   PRESET (default tiny) sizes the model, e.g. medium for measuring a large import;
//   --no-seeded skips OUT/seeded.
#include <filesystem>
#include <iostream>

#include "model/build/hf_import.hpp"
#include "model/build/safetensors.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {
class bf16_rounded final : public weight_source {
public:
  explicit bf16_rounded(uint64_t seed) : inner_(seeded_weight_source(seed)) {}
  std::vector<float> load(const std::string& n, const std::vector<int64_t>& s) override {
    auto v = inner_->load(n, s);
    for (auto& x : v) x = bfloat16_to_float(float_to_bfloat16(x));
    return v;
  }
  std::string describe() const override { return "bf16-rounded seeded"; }

private:
  std::unique_ptr<weight_source> inner_;
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::cerr << "usage: hf_import_fixture OUT_DIR LLAMA3_TOKENIZER_DIR [PRESET [--no-seeded]]\n";
    return 2;
  }
  try {
    const fs::path out(argv[1]), tok_dir(argv[2]);
    fs::remove_all(out);
    fs::create_directories(out);
    const std::string preset = argc > 3 ? argv[3] : "tiny";
    const bool seeded = !(argc > 4 && std::string(argv[4]) == "--no-seeded");
    llama_config c = preset_config(preset);
    c.name = preset + "-llama3";
    c.vocab_size = 128256;
    c.max_position_embeddings = 16384;
    c.rope_theta = 500000.0;
    c.rope_scaling = rope_scaling_config{};
    c.bos_token_id = 128000;
    c.eos_token_id = 128001;
    bf16_rounded w1(21), w2(21);
    write_hf_checkpoint(c, w1, (out / "hf").string(), "BF16", 2);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      fs::copy_file(tok_dir / f, out / "hf" / f);
    if (seeded) {
      build_options o;
      o.write_byte_tokenizer = false;
      build_llama_model(c, w2, (out / "seeded").string(), o);
    }
    std::cout << "wrote " << (out / "hf").string() << (seeded ? " and " + (out / "seeded").string() : std::string()) << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
