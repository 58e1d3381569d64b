// The BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE", ...}): vocabulary,
// ranked merges, unknown token, byte fallback (<0xNN>) and ignore_merges, applied to one
// pre-tokenized word at a time exactly as the `tokenizers` library does (lowest-rank pair
// first, leftmost on ties). Thread-safe; remembers the ids of recently seen words.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer/tokenizer.hpp"

namespace tessera::model {

class bpe_model {
public:
  // `model` is the tokenizer.json "model" object; `source` names the file in errors.
  bpe_model(const nlohmann::json& model, const std::string& source);

  // Appends the ids of one word (already normalized, pre-tokenized and, for byte-level
  // tokenizers, mapped to the byte alphabet).
  void encode_word(std::string_view word, std::vector<token_id>& out) const;

  std::optional<token_id> token_to_id(std::string_view token) const;
  // nullptr when `id` is not in the vocabulary.
  const std::string* id_to_token(token_id id) const;
  std::size_t size() const { return tokens_.size(); }
  bool byte_fallback() const { return byte_fallback_; }

private:
  void merge_word(std::string_view word, std::vector<token_id>& out) const;

  struct merge_result {
    std::int32_t rank;
    token_id merged;
  };
  static std::uint64_t pair_key(token_id a, token_id b) {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
  }

  std::unordered_map<std::string, token_id> vocab_;
  std::vector<std::string> tokens_;  // by id; empty where the vocabulary has a gap
  std::unordered_map<std::uint64_t, merge_result> merges_;
  std::array<token_id, 256> byte_ids_{};  // <0xNN> ids for byte fallback, -1 when absent
  std::optional<token_id> unk_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<token_id>> cache_;
};

}  // namespace tessera::model
