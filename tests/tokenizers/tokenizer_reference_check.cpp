// Compares Tessera's C++ tokenizers with the JavaScript reference ids that reference.mjs
// wrote for real tokenizer files (Llama-3, Llama-2 style, Qwen): identical ids with and
// without special tokens, decode equal to the input (NFC-normalized where the tokenizer
// normalizes), and streamed decoding equal to the full decode.
// Usage: tokenizer_reference_check REFERENCE.json
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/tokenizer/chat_template.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "model/tokenizer/tokenizer_utf8.hpp"

using namespace tessera::model;

namespace {

std::string show(const std::vector<token_id>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

// JSON-quoted text for messages (invalid UTF-8 shown as U+FFFD).
std::string q(const std::string& s) { return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tokenizer_reference_check REFERENCE.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "cannot read " << argv[1] << " (run reference.mjs first)\n";
    return 2;
  }
  const auto ref = nlohmann::json::parse(in);
  int passed = 0, failed = 0;
  auto check = [&](bool ok, const std::string& what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      std::cout << "FAIL " << what << "\n";
    }
  };
  for (const auto& m : ref.at("models")) {
    const std::string name = m.at("name");
    std::unique_ptr<tokenizer> tok;
    try {
      tok = load_tokenizer(m.at("dir").get<std::string>());
    } catch (const std::exception& e) {
      check(false, name + ": load: " + e.what());
      continue;
    }
    for (const auto& c : m.at("cases")) {
      const std::string text = c.at("text");
      const auto label = name + " " + q(text.substr(0, 40));
      const auto want = c.at("ids").get<std::vector<token_id>>();
      const auto want_special = c.at("ids_special").get<std::vector<token_id>>();
      const auto got = tok->encode(text, false);
      const auto got_special = tok->encode(text, true);
      check(got == want, label + " ids\n  want " + show(want) + "\n  got  " + show(got));
      check(got_special == want_special,
            label + " ids with special tokens\n  want " + show(want_special) + "\n  got  " + show(got_special));
      const std::string decoded = tok->decode(got);
      bool has_special_text = false;
      for (token_id id : got) has_special_text = has_special_text || tok->is_special(id);
      // Special tokens (e.g. sentencepiece's <unk>, shown as " ⁇ " there) are skipped here.
      if (!has_special_text)
        check(decoded == c.at("decoded").get<std::string>(),
              label + " decode equals the reference's\n  want " + q(c.at("decoded").get<std::string>()) + "\n  got  " + q(decoded));
      if (!has_special_text)
        check(decoded == c.at("expected_roundtrip").get<std::string>(),
              label + " decode(encode(x)) == x\n  got " + q(decoded));
      stream_decoder stream(*tok);
      std::string streamed;
      bool pieces_valid = true;
      for (token_id id : got_special) {
        const std::string piece = stream.push(id);
        pieces_valid = pieces_valid && utf8::sanitize(piece) == piece;  // never half a character
        streamed += piece;
      }
      check(pieces_valid, label + " every streamed piece is whole UTF-8");
      streamed += stream.finish();
      check(streamed == decoded, label + " streamed decode equals decode\n  got " + q(streamed));
    }
    if (m.contains("chat") && !m["chat"].is_null()) {
      std::vector<chat_message> messages;
      for (const auto& msg : m["chat"].at("messages")) messages.push_back({msg.at("role"), msg.at("content")});
      const std::string text = format_chat(tok->chat(), messages, true);
      check(text == m["chat"].at("text").get<std::string>(),
            name + " chat template (" + to_string(tok->chat()) + ")\n  want " + q(m["chat"].at("text")) + "\n  got  " + q(text));
      const auto ids = encode_chat(*tok, messages, true);
      check(ids == m["chat"].at("ids").get<std::vector<token_id>>(), name + " chat ids\n  got " + show(ids));
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
