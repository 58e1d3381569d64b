// The text stages of a Hugging Face tokenizer.json around the BPE model: normalizers,
// pre-tokenizers (regex splits through PCRE2 with Unicode properties, byte-level mapping,
// Metaspace, digits) and the per-token decoders. Each is built from its JSON object and
// names the unsupported `type` when it meets one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tessera::model {

// A compiled PCRE2 pattern (UTF + UCP, JIT when available); immutable and thread-safe.
class hf_regex {
public:
  explicit hf_regex(const std::string& pattern);
  ~hf_regex();
  hf_regex(const hf_regex&) = delete;
  hf_regex& operator=(const hf_regex&) = delete;
  // Calls on_match(start, end) for each non-overlapping match in valid UTF-8 `text`.
  template <class F>
  void for_each_match(std::string_view text, F&& on_match) const {
    std::size_t pos = 0, start = 0, end = 0;
    while (next_match(text, pos, start, end)) {
      on_match(start, end);
      pos = end > start ? end : end + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    }
  }

private:
  bool next_match(std::string_view text, std::size_t from, std::size_t& start, std::size_t& end) const;
  void* code_;  // pcre2_code_8*
};

struct hf_normalizer_step;
struct hf_pretokenizer_step;
struct hf_decoder_step;

class hf_normalizer {
public:
  hf_normalizer(const nlohmann::json& j, const std::string& source);  // null json: identity
  ~hf_normalizer();
  void apply(std::string& text) const;
  bool nfc() const;  // whether an NFC step is present (tests, docs)

private:
  std::vector<std::unique_ptr<hf_normalizer_step>> steps_;
};

class hf_pretokenizer {
public:
  hf_pretokenizer(const nlohmann::json& j, const std::string& source);  // null json: one piece
  ~hf_pretokenizer();
  // Splits one normalized section into the words the model encodes. `first_section` is true
  // for text at the very start of the input (Metaspace's prepend_scheme "first").
  void apply(const std::string& text, bool first_section, std::vector<std::string>& words) const;

private:
  std::vector<std::unique_ptr<hf_pretokenizer_step>> steps_;
};

class hf_decoder {
public:
  hf_decoder(const nlohmann::json& j, const std::string& source);  // null json: tokens verbatim
  ~hf_decoder();
  // The bytes that vocabulary token `token` contributes to decoded text.
  std::string token_bytes(const std::string& token, bool at_start) const;

private:
  std::vector<std::unique_ptr<hf_decoder_step>> steps_;
};

// GPT-2's byte <-> printable character table: byte b is spelled as this UTF-8 string.
const std::string& byte_level_char(unsigned char b);
// The bytes a byte-level spelled string stands for (characters outside the table are kept).
std::string from_byte_level(std::string_view s);

// Replaces every occurrence of `from` (non-empty) in `s` by `to`; used by the
// Replace normalizer and the Replace decoder step.
void replace_all(std::string& s, const std::string& from, const std::string& to);

}  // namespace tessera::model
