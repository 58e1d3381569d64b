#include "model/tokenizer/tokenizer_hf_pipeline.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <array>
#include <cstdio>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

namespace tessera::model {

// ---------------------------------------------------------------------------------------------
// PCRE2

namespace {

struct match_data_holder {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ~match_data_holder() { pcre2_match_data_free(data); }
};

std::string escape_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A tokenizer.json pattern: {"String": "..."} (a literal) or {"Regex": "..."}.
std::string pattern_of(const nlohmann::json& p, const std::string& where) {
  if (p.is_object()) {
    if (auto s = p.find("String"); s != p.end() && s->is_string()) return escape_literal(s->get<std::string>());
    if (auto r = p.find("Regex"); r != p.end() && r->is_string()) return r->get<std::string>();
  }
  throw model_error(where + ": pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + p.dump());
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string type_of(const nlohmann::json& j, const std::string& where) {
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) throw model_error(where + " has no \"type\"");
  return t->get<std::string>();
}

}  // namespace

hf_regex::hf_regex(const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                             &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw model_error("regex " + pattern + " does not compile at offset " + std::to_string(offset) + ": " +
                      reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter is the fallback
  code_ = code;
}

hf_regex::~hf_regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool hf_regex::next_match(std::string_view text, std::size_t from, std::size_t& start, std::size_t& end) const {
  if (from > text.size()) return false;
  thread_local match_data_holder md;
  const int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), from,
                             PCRE2_NO_UTF_CHECK, md.data, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    throw model_error(std::string("pre-tokenizer regex failed: ") + reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
  start = ov[0];
  end = ov[1];
  return true;
}

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2): printable bytes stand for themselves, the others for U+0100...

namespace {

struct byte_level_tables {
  std::array<std::string, 256> to_char;
  std::unordered_map<char32_t, unsigned char> to_byte;
  byte_level_tables() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      utf8::append_code_point(to_char[static_cast<std::size_t>(b)], cp);
      to_byte[cp] = static_cast<unsigned char>(b);
    }
  }
};

const byte_level_tables& tables() {
  static const byte_level_tables t;
  return t;
}

char32_t decode_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t len = std::min(utf8::char_length(b0), s.size() - i);
  char32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

std::string to_byte_level(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) out += tables().to_char[static_cast<unsigned char>(c)];
  return out;
}

}  // namespace

std::string from_byte_level(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t start = i;
    const char32_t cp = decode_code_point(s, i);
    auto it = tables().to_byte.find(cp);
    if (it != tables().to_byte.end()) out.push_back(static_cast<char>(it->second));
    else out.append(s.substr(start, i - start));  // not in the alphabet: keep the character
  }
  return out;
}

namespace {

const char* gpt2_pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace

const std::string& byte_level_char(unsigned char b) { return tables().to_char[b]; }

// ---------------------------------------------------------------------------------------------
// Normalizers

struct hf_normalizer_step {
  enum kind_t { nfc, nfd, nfkc, nfkd, prepend, replace_literal, replace_regex, lowercase, strip } kind;
  std::string a, b;
  bool left = false, right = false;
  std::unique_ptr<hf_regex> regex;
};

namespace {

void flatten_normalizer(const nlohmann::json& j, const std::string& where,
                        std::vector<std::unique_ptr<hf_normalizer_step>>& steps) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where);
  auto step = std::make_unique<hf_normalizer_step>();
  using k = hf_normalizer_step::kind_t;
  if (type == "Sequence") {
    for (const auto& n : j.at("normalizers")) flatten_normalizer(n, where, steps);
    return;
  } else if (type == "NFC") {
    step->kind = k::nfc;
  } else if (type == "NFD") {
    step->kind = k::nfd;
  } else if (type == "NFKC") {
    step->kind = k::nfkc;
  } else if (type == "NFKD") {
    step->kind = k::nfkd;
  } else if (type == "Lowercase") {
    step->kind = k::lowercase;
  } else if (type == "Prepend") {
    step->kind = k::prepend;
    step->a = j.at("prepend").get<std::string>();
  } else if (type == "Strip") {
    step->kind = k::strip;
    step->left = j.value("strip_left", true);
    step->right = j.value("strip_right", true);
  } else if (type == "Replace") {
    const auto& p = j.at("pattern");
    step->b = j.at("content").get<std::string>();
    if (p.contains("String")) {
      step->kind = k::replace_literal;
      step->a = p.at("String").get<std::string>();
    } else {
      step->kind = k::replace_regex;
      step->regex = std::make_unique<hf_regex>(pattern_of(p, where));
    }
  } else {
    throw model_error(where + ": unsupported normalizer type \"" + type + "\"");
  }
  steps.push_back(std::move(step));
}

void icu_normalize(std::string& s, hf_normalizer_step::kind_t kind) {
  if (is_ascii(s)) return;  // ASCII is invariant under every normalization form
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (kind) {
    case hf_normalizer_step::nfc: n = icu::Normalizer2::getNFCInstance(err); break;
    case hf_normalizer_step::nfd: n = icu::Normalizer2::getNFDInstance(err); break;
    case hf_normalizer_step::nfkc: n = icu::Normalizer2::getNFKCInstance(err); break;
    default: n = icu::Normalizer2::getNFKDInstance(err); break;
  }
  if (U_FAILURE(err)) throw model_error(std::string("ICU normalizer unavailable: ") + u_errorName(err));
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  if (n->isNormalized(u, err) && U_SUCCESS(err)) return;
  err = U_ZERO_ERROR;
  const icu::UnicodeString r = n->normalize(u, err);
  if (U_FAILURE(err)) throw model_error(std::string("Unicode normalization failed: ") + u_errorName(err));
  s.clear();
  r.toUTF8String(s);
}

}  // namespace

hf_normalizer::hf_normalizer(const nlohmann::json& j, const std::string& source) {
  try {
    flatten_normalizer(j, source + ": normalizer", steps_);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(source + ": normalizer: " + e.what());
  }
}

hf_normalizer::~hf_normalizer() = default;

bool hf_normalizer::nfc() const {
  for (const auto& s : steps_)
    if (s->kind == hf_normalizer_step::nfc) return true;
  return false;
}

void hf_normalizer::apply(std::string& text) const {
  using k = hf_normalizer_step::kind_t;
  for (const auto& s : steps_) {
    switch (s->kind) {
      case k::nfc:
      case k::nfd:
      case k::nfkc:
      case k::nfkd: icu_normalize(text, s->kind); break;
      case k::prepend:
        if (!text.empty()) text.insert(0, s->a);
        break;
      case k::replace_literal: replace_all(text, s->a, s->b); break;
      case k::replace_regex: {
        std::string out;
        std::size_t last = 0;
        s->regex->for_each_match(text, [&](std::size_t b, std::size_t e) {
          out.append(text, last, b - last);
          out += s->b;
          last = e;
        });
        out.append(text, last, std::string::npos);
        text = std::move(out);
        break;
      }
      case k::lowercase: {
        icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
        u.toLower(icu::Locale::getRoot());
        text.clear();
        u.toUTF8String(text);
        break;
      }
      case k::strip: {
        auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
        std::size_t b = 0, e = text.size();
        if (s->left)
          while (b < e && ws(text[b])) ++b;
        if (s->right)
          while (e > b && ws(text[e - 1])) --e;
        text = text.substr(b, e - b);
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

struct hf_pretokenizer_step {
  enum kind_t { split, byte_level, metaspace, keep_matches } kind;
  enum behavior_t { isolated, removed, merged_with_previous, merged_with_next, contiguous } behavior = isolated;
  bool invert = false;
  bool add_prefix_space = false;
  bool use_regex = false;
  std::string replacement;
  std::string prepend_scheme;  // always | first | never
  bool metaspace_split = true;
  std::unique_ptr<hf_regex> regex;
};

namespace {

hf_pretokenizer_step::behavior_t behavior_of(const std::string& b, const std::string& where) {
  using h = hf_pretokenizer_step;
  if (b == "Isolated") return h::isolated;
  if (b == "Removed") return h::removed;
  if (b == "MergedWithPrevious") return h::merged_with_previous;
  if (b == "MergedWithNext") return h::merged_with_next;
  if (b == "Contiguous") return h::contiguous;
  throw model_error(where + ": unsupported split behavior \"" + b + "\"");
}

void flatten_pretokenizer(const nlohmann::json& j, const std::string& where,
                          std::vector<std::unique_ptr<hf_pretokenizer_step>>& steps) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where);
  auto step = std::make_unique<hf_pretokenizer_step>();
  using k = hf_pretokenizer_step::kind_t;
  if (type == "Sequence") {
    for (const auto& p : j.at("pretokenizers")) flatten_pretokenizer(p, where, steps);
    return;
  } else if (type == "Split") {
    step->kind = k::split;
    step->regex = std::make_unique<hf_regex>(pattern_of(j.at("pattern"), where));
    step->behavior = behavior_of(j.at("behavior").get<std::string>(), where);
    step->invert = j.value("invert", false);
  } else if (type == "ByteLevel") {
    step->kind = k::byte_level;
    step->add_prefix_space = j.value("add_prefix_space", true);
    step->use_regex = j.value("use_regex", true);
    if (step->use_regex) step->regex = std::make_unique<hf_regex>(gpt2_pattern);
  } else if (type == "Metaspace") {
    step->kind = k::metaspace;
    step->replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) step->prepend_scheme = j["prepend_scheme"];
    else step->prepend_scheme = j.value("add_prefix_space", true) ? "always" : "never";
    step->metaspace_split = j.value("split", true);
    step->regex = std::make_unique<hf_regex>(escape_literal(step->replacement));
  } else if (type == "Digits") {
    step->kind = k::split;
    step->regex = std::make_unique<hf_regex>(j.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
  } else if (type == "WhitespaceSplit") {
    step->kind = k::split;
    step->behavior = hf_pretokenizer_step::removed;
    step->regex = std::make_unique<hf_regex>("\\s+");
  } else if (type == "Whitespace") {
    step->kind = k::keep_matches;
    step->regex = std::make_unique<hf_regex>("\\w+|[^\\w\\s]+");
  } else {
    throw model_error(where + ": unsupported pre_tokenizer type \"" + type + "\"");
  }
  steps.push_back(std::move(step));
}

// Splits `text` by the matches of `re` according to `behavior` (the `tokenizers` semantics).
void split_pieces(const std::string& text, const hf_regex& re, hf_pretokenizer_step::behavior_t behavior, bool invert,
                  std::vector<std::string>& out) {
  struct span {
    std::size_t b, e;
    bool match;
  };
  std::vector<span> spans;
  std::size_t last = 0;
  re.for_each_match(text, [&](std::size_t b, std::size_t e) {
    if (e == b) return;
    if (b > last) spans.push_back({last, b, false});
    spans.push_back({b, e, true});
    last = e;
  });
  if (last < text.size()) spans.push_back({last, text.size(), false});
  if (invert)
    for (auto& s : spans) s.match = !s.match;

  using h = hf_pretokenizer_step;
  std::string pending;  // merged_with_next: matches waiting for the next piece
  bool prev_was_match = false;
  for (const auto& s : spans) {
    std::string piece = text.substr(s.b, s.e - s.b);
    switch (behavior) {
      case h::isolated: out.push_back(std::move(piece)); break;
      case h::removed:
        if (!s.match) out.push_back(std::move(piece));
        break;
      case h::merged_with_previous:
        if (s.match && !out.empty() && !prev_was_match) out.back() += piece;
        else out.push_back(std::move(piece));
        break;
      case h::merged_with_next:
        if (s.match) {
          if (!pending.empty()) out.push_back(std::move(pending));
          pending = std::move(piece);
        } else {
          out.push_back(pending + piece);
          pending.clear();
        }
        break;
      case h::contiguous:
        if (s.match && prev_was_match) out.back() += piece;
        else out.push_back(std::move(piece));
        break;
    }
    prev_was_match = s.match;
  }
  if (!pending.empty()) out.push_back(std::move(pending));
}

}  // namespace

hf_pretokenizer::hf_pretokenizer(const nlohmann::json& j, const std::string& source) {
  try {
    flatten_pretokenizer(j, source + ": pre_tokenizer", steps_);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(source + ": pre_tokenizer: " + e.what());
  }
}

hf_pretokenizer::~hf_pretokenizer() = default;

void hf_pretokenizer::apply(const std::string& text, bool first_section, std::vector<std::string>& words) const {
  std::vector<std::string> pieces{text}, next;
  using k = hf_pretokenizer_step::kind_t;
  for (const auto& s : steps_) {
    next.clear();
    for (auto& p : pieces) {
      switch (s->kind) {
        case k::split: split_pieces(p, *s->regex, s->behavior, s->invert, next); break;
        case k::keep_matches:
          s->regex->for_each_match(p, [&](std::size_t b, std::size_t e) {
            if (e > b) next.push_back(p.substr(b, e - b));
          });
          break;
        case k::byte_level: {
          if (s->add_prefix_space && (p.empty() || p[0] != ' ')) p.insert(0, " ");
          if (s->use_regex) {
            s->regex->for_each_match(p, [&](std::size_t b, std::size_t e) {
              if (e > b) next.push_back(to_byte_level(std::string_view(p).substr(b, e - b)));
            });
          } else {
            next.push_back(to_byte_level(p));
          }
          break;
        }
        case k::metaspace: {
          replace_all(p, " ", s->replacement);
          const bool prepend = s->prepend_scheme == "always" || (s->prepend_scheme == "first" && first_section);
          if (prepend && p.compare(0, s->replacement.size(), s->replacement) != 0) p.insert(0, s->replacement);
          if (s->metaspace_split) split_pieces(p, *s->regex, hf_pretokenizer_step::merged_with_next, false, next);
          else next.push_back(std::move(p));
          break;
        }
      }
    }
    pieces.swap(next);
  }
  for (auto& p : pieces)
    if (!p.empty()) words.push_back(std::move(p));
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

}  // namespace tessera::model
