// UTF-8 helpers for tokenizers: validation with U+FFFD replacement (maximal subparts, as
// browsers and Hugging Face's lossy decoding do) and the byte <-> code point steps BPE needs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::model::utf8 {

// Appends `in` to `out`, replacing each invalid sequence by U+FFFD. When `hold_tail` is true
// a trailing sequence that is incomplete but could still become valid is not appended;
// the return value is the number of bytes of `in` consumed (in.size() unless held back).
std::size_t append_valid(std::string& out, std::string_view in, bool hold_tail);

// `in` with every invalid sequence replaced by U+FFFD.
std::string sanitize(std::string_view in);

// Appends code point `cp` encoded as UTF-8.
void append_code_point(std::string& out, char32_t cp);

// Length in bytes of the (valid) UTF-8 character starting with byte `lead`; 1 for stray bytes.
inline std::size_t char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

}  // namespace tessera::model::utf8
