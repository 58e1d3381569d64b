#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model::utf8 {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";

// Valid range of the second byte for a given lead byte (Unicode table 3-7).
bool second_byte_ok(unsigned char lead, unsigned char b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

std::size_t expected_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // never valid as a lead byte
}

}  // namespace

std::size_t append_valid(std::string& out, std::string_view in, bool hold_tail) {
  std::size_t i = 0;
  const std::size_t n = in.size();
  while (i < n) {
    const auto lead = static_cast<unsigned char>(in[i]);
    const std::size_t len = expected_length(lead);
    if (len == 1) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    if (len == 0) {
      out.append(replacement);
      ++i;
      continue;
    }
    std::size_t k = 1;  // bytes of this character that are valid so far
    bool broken = false;
    while (k < len) {
      if (i + k >= n) break;
      const auto b = static_cast<unsigned char>(in[i + k]);
      const bool ok = (k == 1) ? second_byte_ok(lead, b) : (b >= 0x80 && b <= 0xBF);
      if (!ok) {
        broken = true;
        break;
      }
      ++k;
    }
    if (k == len) {
      out.append(in.substr(i, len));
      i += len;
    } else if (broken) {
      out.append(replacement);  // the maximal valid subpart becomes one U+FFFD
      i += k;
    } else {  // ran out of input inside a character that may still complete
      if (hold_tail) return i;
      out.append(replacement);
      return n;
    }
  }
  return n;
}

std::string sanitize(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  append_valid(out, in, false);
  return out;
}

void append_code_point(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tessera::model::utf8
