// What the tokenizer targets do with a tokenizer that loaded: encode a text,
// decode it back (also as a stream), and decode and spell ids in and just
// outside the vocabulary, as a request does with whatever a worker returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_input_file.hpp"
#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace tessera::fuzz {

inline void use_tokenizer(const model::tokenizer& tok, const std::string& sample) {
  using model::token_id;
  const auto ids = tok.encode(sample, true);
  (void)tok.decode(ids, false);
  model::stream_decoder stream(tok);
  for (auto id : ids) (void)stream.push(id);
  (void)stream.finish();
  const auto n = static_cast<token_id>(tok.vocab_size());
  const std::vector<token_id> probe = {-1, 0, 1, n - 1, n, INT64_MAX, INT64_MIN};
  (void)tok.decode(probe, true);
  for (auto id : probe) {
    (void)tok.id_to_token(id);
    (void)tok.is_special(id);
  }
}

// The input as a tokenizer file through load_tokenizer; one that loads is used.
inline void load_and_use_tokenizer(input_file& file, const uint8_t* data, size_t size, const std::string& sample) {
  std::unique_ptr<model::tokenizer> tok;
  try {
    tok = model::load_tokenizer(file.write(data, size));
  } catch (const model::model_error&) {
    return;
  }
  use_tokenizer(*tok, sample);
}

}  // namespace tessera::fuzz
