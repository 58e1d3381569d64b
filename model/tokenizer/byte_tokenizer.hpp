// The byte-level tokenizer of Tessera's synthetic presets: ids 0..255 are the raw bytes of
// the UTF-8 text, followed by BOS, EOS and PAD. Its file (DIR/tokenizer.json) is exactly
//   {"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256,
//    "eos_token_id": 257, "pad_token_id": 258}
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer/tokenizer.hpp"

namespace tessera::model {

class byte_tokenizer final : public tokenizer {
public:
  byte_tokenizer(token_id bos = 256, token_id eos = 257, token_id pad = 258);

  std::string kind() const override { return "bytes"; }
  std::size_t vocab_size() const override { return vocab_size_; }
  std::vector<token_id> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string token_bytes(token_id id, bool at_start) const override;
  bool is_special(token_id id) const override;
  std::optional<token_id> token_to_id(std::string_view token) const override;
  std::string id_to_token(token_id id) const override;

private:
  std::size_t vocab_size_;
};

// The preset description; `source` names the file in errors.
std::unique_ptr<tokenizer> make_byte_tokenizer(const nlohmann::json& description, const std::string& source);
// The JSON the builder writes for the presets (the exact object above).
nlohmann::json byte_tokenizer_description();

}  // namespace tessera::model
