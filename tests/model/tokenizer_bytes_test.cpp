// The byte-level preset tokenizer, the streaming decoder and load_tokenizer's dispatch.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "model/base/model_error.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("tessera_tok_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

const char* preset_json =
    R"({"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258})";

}  // namespace

TEST_CASE("the byte preset loads from a model directory with its special ids") {
  auto dir = temp_dir("preset");
  write(dir / "tokenizer.json", preset_json);
  auto tok = load_tokenizer(dir.string());
  CHECK(tok->kind() == "bytes");
  CHECK(tok->vocab_size() == 259);
  CHECK(tok->bos_id() == 256);
  CHECK(tok->eos_id() == 257);
  CHECK(tok->pad_id() == 258);
  CHECK(tok->is_stop(257));
  CHECK_FALSE(tok->is_stop(10));
  CHECK(tok->chat() == chat_format::none);
  // The same file given directly.
  CHECK(load_tokenizer((dir / "tokenizer.json").string())->vocab_size() == 259);
  fs::remove_all(dir);
}

TEST_CASE("byte encode gives the UTF-8 bytes, BOS first only with special tokens") {
  auto dir = temp_dir("encode");
  write(dir / "tokenizer.json", preset_json);
  auto tok = load_tokenizer(dir.string());
  CHECK(tok->encode("hi", false) == std::vector<token_id>{104, 105});
  CHECK(tok->encode("hi") == std::vector<token_id>{256, 104, 105});
  CHECK(tok->encode("\xC3\xA9", false) == std::vector<token_id>{0xC3, 0xA9});  // é
  CHECK(tok->encode("", false).empty());
  fs::remove_all(dir);
}

TEST_CASE("byte decode round-trips any UTF-8 text and skips special tokens") {
  auto dir = temp_dir("decode");
  write(dir / "tokenizer.json", preset_json);
  auto tok = load_tokenizer(dir.string());
  const std::string text = "Hello, w\xC3\xB6rld! \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80  \n\ttabs";
  CHECK(tok->decode(tok->encode(text)) == text);
  CHECK(tok->decode({256, 104, 105, 257}) == "hi");
  CHECK(tok->decode({256, 104, 105, 257}, false) == "<|bos|>hi<|eos|>");
  // A lone continuation byte cannot be shown: it becomes U+FFFD.
  CHECK(tok->decode({0x80}) == "\xEF\xBF\xBD");
  CHECK(tok->decode({0xE4, 0xBD}) == "\xEF\xBF\xBD");
  fs::remove_all(dir);
}

TEST_CASE("the stream decoder never emits part of a UTF-8 character") {
  auto dir = temp_dir("stream");
  write(dir / "tokenizer.json", preset_json);
  auto tok = load_tokenizer(dir.string());
  stream_decoder s(*tok);
  CHECK(s.push(256).empty());   // BOS is control, not text
  CHECK(s.push('a') == "a");
  CHECK(s.push(0xF0).empty());  // 😀 = F0 9F 98 80, held until complete
  CHECK(s.push(0x9F).empty());
  CHECK(s.push(0x98).empty());
  CHECK(s.push(0x80) == "\xF0\x9F\x98\x80");
  CHECK(s.push(0xE4).empty());  // 你 = E4 BD A0
  CHECK(s.push(0xBD).empty());
  CHECK(s.push(0xA0) == "\xE4\xBD\xA0");
  CHECK(s.push(0xC3).empty());  // a broken character followed by ASCII is shown as U+FFFD
  CHECK(s.push('b') == "\xEF\xBF\xBD" "b");
  CHECK(s.push(0xE4).empty());
  CHECK(s.push(257).empty());
  CHECK(s.finish() == "\xEF\xBF\xBD");  // stream ended inside a character
  CHECK(s.finish().empty());
  fs::remove_all(dir);
}

TEST_CASE("streamed pieces concatenate to the full decode") {
  auto dir = temp_dir("concat");
  write(dir / "tokenizer.json", preset_json);
  auto tok = load_tokenizer(dir.string());
  const std::string text = "caf\xC3\xA9 \xF0\x9F\x8D\xB5 \xE6\x97\xA5\xE6\x9C\xAC ok";
  stream_decoder s(*tok);
  std::string streamed;
  for (token_id id : tok->encode(text)) {
    std::string piece = s.push(id);
    // Every piece on its own is valid UTF-8: decoding its bytes changes nothing.
    CHECK(tok->decode(tok->encode(piece, false)) == piece);
    streamed += piece;
  }
  streamed += s.finish();
  CHECK(streamed == text);
  fs::remove_all(dir);
}

TEST_CASE("bad tokenizer files are errors that name the file and the problem") {
  auto dir = temp_dir("bad");
  CHECK_THROWS_WITH(load_tokenizer((dir / "nope").string()), Catch::Contains("not found"));
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("no tokenizer.json or tokenizer.model"));
  write(dir / "tokenizer.json", "{\"tessera_tokenizer\": \"bytes\"");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("not valid JSON"));
  write(dir / "tokenizer.json", R"({"tessera_tokenizer": "words"})");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("unsupported tessera_tokenizer"));
  write(dir / "tokenizer.json", R"({"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256})");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("eos_token_id"));
  write(dir / "tokenizer.json",
        R"({"tessera_tokenizer": "bytes", "vocab_size": 300, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258})");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("vocab_size"));
  write(dir / "tokenizer.json", R"({"version": "1.0"})");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("neither"));
  fs::remove_all(dir / "tokenizer.json");
  write(dir / "tokenizer.model", "definitely not a protobuf");
  CHECK_THROWS_WITH(load_tokenizer(dir.string()), Catch::Contains("tokenizer.model"));
  fs::remove_all(dir);
}
