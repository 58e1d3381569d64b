// What a model directory says about its tokenizer beside the tokenizer file itself:
// tokenizer_config.json (bos/eos/pad token strings, add_bos_token, the chat template) and
// generation_config.json (eos_token_id, possibly a list of stop ids).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer/tokenizer.hpp"

namespace tessera::model {

struct tokenizer_config {
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::optional<std::string> chat_template;
  std::vector<token_id> generation_eos_ids;  // from generation_config.json
};

// Reads DIR/tokenizer_config.json and DIR/generation_config.json when present (empty
// fields otherwise). Malformed JSON is a model_error naming the file.
tokenizer_config read_tokenizer_config(const std::filesystem::path& dir);

// Applies the special tokens and stop ids of `cfg` to `tok` and picks its chat format from
// the template text (or, without one, from the special tokens of the vocabulary).
void apply_tokenizer_config(tokenizer& tok, const tokenizer_config& cfg);

// The chat format a Jinja chat template implements, by its markers (none when unknown).
chat_format chat_format_of_template(const std::string& chat_template);

}  // namespace tessera::model
