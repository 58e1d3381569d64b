// Hugging Face tokenizer.json support on small hand-written files: BPE merge order, byte-level
// mapping, added tokens, byte fallback, Metaspace, NFC, post-processor templates, and errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "model/tokenizer/tokenizer_hf_pipeline.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;
using json = nlohmann::json;

namespace {

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("tessera_hftok_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

std::unique_ptr<tokenizer> load_json(const std::string& name, const json& j) {
  temp_dir dir(name);
  std::ofstream(dir.path / "tokenizer.json") << j.dump();
  return load_tokenizer(dir.path.string());
}

// A byte-level BPE over "low", "lower", "newest" style words (GPT-2 alphabet: ' ' is "Ġ").
json byte_level_json() {
  json vocab = json::object();
  token_id next = 0;
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<unsigned char>(b))] = next++;
  for (const char* t : {"lo", "low", "Ġl", "Ġlo", "Ġlow", "er", "Ġlower"}) vocab[t] = next++;
  return json{{"version", "1.0"},
              {"added_tokens",
               json::array({json{{"id", 263}, {"content", "<|end|>"}, {"special", true}},
                            json{{"id", 264}, {"content", "<tool>"}, {"special", false}}})},
              {"normalizer", nullptr},
              {"pre_tokenizer", json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
              {"post_processor", json{{"type", "ByteLevel"}}},
              {"decoder", json{{"type", "ByteLevel"}}},
              {"model", json{{"type", "BPE"},
                             {"vocab", vocab},
                             {"merges", json::array({"Ġ l", "Ġl o", "Ġlo w", "l o", "lo w", "e r", "Ġlow er"})}}}};
}

}  // namespace

TEST_CASE("byte-level BPE applies merges by rank and maps every byte") {
  auto j = byte_level_json();
  // Without "Ġlo w", " low" stops at "Ġlo" + "w" although "lo w" exists: "Ġ l" and "Ġl o"
  // rank before "l o", so the "lo" pair never forms in that word.
  j["model"]["merges"] = json::array({"Ġ l", "Ġl o", "l o", "lo w", "e r"});
  auto tok = load_json("rank", j);
  const auto low = *tok->token_to_id("low");
  const auto glo = *tok->token_to_id("Ġlo");
  const auto w = *tok->token_to_id("w");
  CHECK(tok->encode("low low", false) == std::vector<token_id>{low, glo, w});
  CHECK(tok->kind() == "hf-bpe");
}

TEST_CASE("byte-level BPE round-trips text with bytes outside the merges") {
  auto tok = load_json("roundtrip", byte_level_json());
  const std::string text = "lower low\n\t caf\xC3\xA9 \xF0\x9F\x98\x80 \xE4\xBD\xA0\xE5\xA5\xBD";
  CHECK(tok->decode(tok->encode(text, false)) == text);
  CHECK(tok->encode("low lower", false) ==
        std::vector<token_id>{*tok->token_to_id("low"), *tok->token_to_id("Ġlower")});
}

TEST_CASE("added tokens are cut out of the text and special ones are skipped by decode") {
  auto tok = load_json("added", byte_level_json());
  const auto ids = tok->encode("low<|end|><tool>low", false);
  REQUIRE(ids.size() == 4);
  CHECK(ids[1] == 263);
  CHECK(ids[2] == 264);
  CHECK(tok->is_special(263));
  CHECK_FALSE(tok->is_special(264));
  CHECK(tok->decode(ids) == "low<tool>low");
  CHECK(tok->decode(ids, false) == "low<|end|><tool>low");
  CHECK(tok->vocab_size() == 265);
  CHECK(tok->id_to_token(263) == "<|end|>");
}

TEST_CASE("Llama-2 style: Prepend/Replace normalizer, byte fallback, template BOS, Strip decoder") {
  json vocab = json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  token_id next = 259;
  for (const char* t : {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "\xE2\x96\x81hi"}) vocab[t] = next++;
  json j{{"added_tokens", json::array({json{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                                       json{{"id", 1}, {"content", "<s>"}, {"special", true}},
                                       json{{"id", 2}, {"content", "</s>"}, {"special", true}}})},
         {"normalizer", json{{"type", "Sequence"},
                             {"normalizers", json::array({json{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                                          json{{"type", "Replace"},
                                                               {"pattern", json{{"String", " "}}},
                                                               {"content", "\xE2\x96\x81"}}})}}},
         {"pre_tokenizer", nullptr},
         {"post_processor", json{{"type", "TemplateProcessing"},
                                 {"single", json::array({json{{"SpecialToken", json{{"id", "<s>"}, {"type_id", 0}}}},
                                                         json{{"Sequence", json{{"id", "A"}, {"type_id", 0}}}}})},
                                 {"special_tokens", json{{"<s>", json{{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
         {"decoder", json{{"type", "Sequence"},
                          {"decoders", json::array({json{{"type", "Replace"}, {"pattern", json{{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                                    json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                                                    json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
         {"model", json{{"type", "BPE"}, {"byte_fallback", true}, {"fuse_unk", true}, {"unk_token", "<unk>"}, {"vocab", vocab},
                        {"merges", json::array({"\xE2\x96\x81 h", "\xE2\x96\x81h i"})}}}};
  auto tok = load_json("llama2", j);
  const token_id hi = 263;
  CHECK(tok->encode("hi", true) == std::vector<token_id>{1, hi});
  // "é" is not in the vocabulary: its two UTF-8 bytes come out as <0xC3> <0xA9>.
  CHECK(tok->encode("hi\xC3\xA9", false) == std::vector<token_id>{hi, 3 + 0xC3, 3 + 0xA9});
  CHECK(tok->decode(tok->encode("hi hi\xC3\xA9", true)) == "hi hi\xC3\xA9");
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  CHECK(tok->chat() == chat_format::llama2);
  // Streaming a split character: nothing until the second byte arrives.
  stream_decoder s(*tok);
  CHECK(s.push(1).empty());
  CHECK(s.push(hi) == "hi");
  CHECK(s.push(3 + 0xC3).empty());
  CHECK(s.push(3 + 0xA9) == "\xC3\xA9");
}

TEST_CASE("an NFC normalizer composes decomposed accents before BPE") {
  auto j = byte_level_json();
  j["normalizer"] = json{{"type", "NFC"}};
  auto tok = load_json("nfc", j);
  CHECK(tok->encode("cafe\xCC\x81", false) == tok->encode("caf\xC3\xA9", false));
  CHECK(tok->decode(tok->encode("cafe\xCC\x81", false)) == "caf\xC3\xA9");
}

TEST_CASE("Split pre-tokenizer with a Llama-3 style regex isolates words, numbers and spaces") {
  auto j = byte_level_json();
  j["pre_tokenizer"] = json{
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({json{{"type", "Split"},
                         {"pattern", json{{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                         {"behavior", "Isolated"},
                         {"invert", false}},
                    json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  auto tok = load_json("split", j);
  // "12345" splits as "123" + "45" (digits in threes); each is spelled byte by byte.
  const auto ids = tok->encode("12345", false);
  CHECK(ids.size() == 5);
  CHECK(tok->decode(tok->encode("It's 12345  ok\n\n", false)) == "It's 12345  ok\n\n");
}

TEST_CASE("unsupported or broken tokenizer.json files are errors naming the part") {
  auto j = byte_level_json();
  j["model"]["type"] = "Unigram";
  CHECK_THROWS_WITH(load_json("unigram", j), Catch::Contains("unsupported tokenizer model type \"Unigram\""));
  j = byte_level_json();
  j["pre_tokenizer"] = json{{"type", "BertPreTokenizer"}};
  CHECK_THROWS_WITH(load_json("bert", j), Catch::Contains("unsupported pre_tokenizer type \"BertPreTokenizer\""));
  j = byte_level_json();
  j["normalizer"] = json{{"type", "Precompiled"}};
  CHECK_THROWS_WITH(load_json("precompiled", j), Catch::Contains("unsupported normalizer type \"Precompiled\""));
  j = byte_level_json();
  j["model"]["merges"].push_back("x zz");
  CHECK_THROWS_WITH(load_json("merges", j), Catch::Contains("not in the vocabulary"));
  j = byte_level_json();
  j["pre_tokenizer"] = json{{"type", "Split"}, {"pattern", json{{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  CHECK_THROWS_WITH(load_json("regex", j), Catch::Contains("does not compile"));
}

TEST_CASE("Metaspace pre-tokenizer (prepend_scheme first) splits before each space marker") {
  json vocab = json::object();
  token_id next = 0;
  for (const char* t : {"<unk>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "\xE2\x96\x81" "b", "<x>"}) vocab[t] = next++;
  json j{{"added_tokens", json::array({json{{"id", 6}, {"content", "<x>"}, {"special", true}}})},
         {"normalizer", nullptr},
         {"pre_tokenizer", json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}}},
         {"post_processor", nullptr},
         {"decoder", json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}}},
         {"model", json{{"type", "BPE"}, {"unk_token", "<unk>"}, {"vocab", vocab},
                        {"merges", json::array({"\xE2\x96\x81 a", "\xE2\x96\x81 b"})}}}};
  auto tok = load_json("metaspace", j);
  CHECK(tok->encode("a b", false) == std::vector<token_id>{4, 5});
  // Only the first section gets the prepended marker: after an added token, "a" stays bare.
  CHECK(tok->encode("a<x>a", false) == std::vector<token_id>{4, 6, 2});
  CHECK(tok->decode({4, 5}) == "a b");
  // An unknown character becomes <unk> (no byte fallback here); decode skips it as special.
  CHECK(tok->encode("a c", false) == std::vector<token_id>{4, 1, 0});
}

TEST_CASE("invalid UTF-8 input is encoded as U+FFFD, never rejected or split mid-byte") {
  auto tok = load_json("invalid", byte_level_json());
  const auto ids = tok->encode("lo\xFF" "w", false);
  CHECK(tok->decode(ids) == "lo\xEF\xBF\xBD" "w");
}
