// The parts of a sentencepiece ModelProto (tokenizer.model) that tokenizing needs, decoded
// from the protobuf wire format by hand, and the precompiled character map (a darts-clone
// double-array trie of input prefixes -> normalized strings, e.g. nmt_nfkc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::model {

struct sp_piece {
  enum type_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };
  std::string text;
  float score = 0;
  type_t type = normal;
};

class sp_charsmap {
public:
  sp_charsmap() = default;
  // `blob` is NormalizerSpec.precompiled_charsmap; empty means identity.
  explicit sp_charsmap(std::string blob, const std::string& source);
  // The normalized form of the longest mapped prefix of `input` and the bytes it consumed;
  // unmapped input yields its first character unchanged.
  std::pair<std::string, std::size_t> normalize_prefix(std::string_view input) const;

private:
  std::vector<uint32_t> units_;
  std::string normalized_;
};

struct sentencepiece_model {
  std::vector<sp_piece> pieces;
  int model_type = 1;  // 1 unigram, 2 bpe, 3 word, 4 char
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  std::string normalizer_name;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  sp_charsmap charsmap;
};

// Reads and decodes `path`; model_error naming the file for anything malformed.
sentencepiece_model read_sentencepiece_model(const std::string& path);

}  // namespace tessera::model
