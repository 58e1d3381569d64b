// Reference ids from libsentencepiece itself for Tessera's own tokenizer.model reader.
// Trains two small models on a fixed corpus (a Llama-style BPE with byte fallback and
// identity normalization, and a unigram model with the default nmt_nfkc normalizer), then
// writes their ids for samples.json in the format tokenizer_reference_check reads.
// This program links libsentencepiece only (no Tessera library): libsentencepiece exports its
// own protobuf-lite, which clashes with libprotobuf in one process.
// Usage: spm_reference SAMPLES.json OUT_DIR   (writes OUT_DIR/spm_reference.json)
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: spm_reference SAMPLES.json OUT_DIR\n";
    return 2;
  }
  const auto samples = nlohmann::json::parse(std::ifstream(argv[1]));
  const fs::path out(argv[2]);
  fs::create_directories(out);

  // Corpus: the samples plus deterministic English-like filler so merges have material.
  const fs::path corpus = out / "spm_corpus.txt";
  {
    std::ofstream c(corpus);
    const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "model", "pipeline",
                           "worker", "layer", "stage", "café", "naïve", "日本語", "東京", "你好", "世界", "return", "int"};
    unsigned seed = 7;
    for (int line = 0; line < 2000; ++line) {
      for (int w = 0; w < 12; ++w) {
        seed = seed * 1103515245u + 12345u;
        c << words[(seed >> 16) % (sizeof words / sizeof *words)] << (w == 11 ? "\n" : " ");
      }
    }
    for (int rep = 0; rep < 5; ++rep)
      for (const auto& s : samples) c << s.get<std::string>() << "\n";
  }

  struct spec {
    std::string name, args;
    bool identity_roundtrip;
  };
  const std::vector<spec> specs = {
      {"spm_bpe",
       "--model_type=bpe --vocab_size=600 --byte_fallback=true --normalization_rule_name=identity "
       "--remove_extra_whitespaces=false --split_digits=true --character_coverage=0.9995 --hard_vocab_limit=false",
       true},
      {"spm_unigram", "--model_type=unigram --vocab_size=400 --character_coverage=0.98 --hard_vocab_limit=false", false},
  };
  nlohmann::json result{{"samples", samples}, {"models", nlohmann::json::array()}};
  for (const auto& s : specs) {
    const fs::path dir = out / s.name;
    fs::create_directories(dir);
    const auto status = sentencepiece::SentencePieceTrainer::Train("--input=" + corpus.string() + " --model_prefix=" +
                                                                   (dir / "tokenizer").string() + " " + s.args +
                                                                   " --minloglevel=2");
    if (!status.ok()) {
      std::cerr << s.name << ": training failed: " << status.ToString() << "\n";
      return 1;
    }
    fs::remove(dir / "tokenizer.vocab");
    sentencepiece::SentencePieceProcessor sp;
    if (!sp.Load((dir / "tokenizer.model").string()).ok()) return 1;
    nlohmann::json cases = nlohmann::json::array();
    for (const auto& sample : samples) {
      const std::string text = sample.get<std::string>();
      std::vector<int> ids;
      sp.Encode(text, &ids);
      std::string decoded;
      sp.Decode(ids, &decoded);
      std::vector<int> with_bos = ids;
      with_bos.insert(with_bos.begin(), sp.bos_id());
      cases.push_back({{"text", text},
                       {"ids", ids},
                       {"ids_special", with_bos},
                       {"decoded", decoded},
                       {"expected_roundtrip", s.identity_roundtrip ? text : decoded}});
    }
    result["models"].push_back({{"name", s.name}, {"dir", dir.string()}, {"cases", cases}, {"chat", nullptr}});
  }
  std::ofstream(out / "spm_reference.json") << result.dump(1);
  std::cout << "sentencepiece reference ids for " << specs.size() << " models x " << samples.size() << " samples -> "
            << (out / "spm_reference.json").string() << "\n";
  return 0;
}
