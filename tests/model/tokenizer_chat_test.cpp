// Chat templates: the exact prompt text of each family, and the format chosen from the files.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "model/base/model_error.hpp"
#include "model/tokenizer/chat_template.hpp"
#include "model/tokenizer/tokenizer_config.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {
const std::vector<chat_message> conversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
}

TEST_CASE("llama3 format wraps each turn in header ids and ends with the assistant header") {
  CHECK(format_chat(chat_format::llama3, {{"user", " Hi \n"}}) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("chatml format (Qwen) uses im_start/im_end per turn") {
  CHECK(format_chat(chat_format::chatml, conversation) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
  CHECK(format_chat(chat_format::chatml, {{"user", "x"}}, false) == "<|im_start|>user\nx<|im_end|>\n");
}

TEST_CASE("llama2 format folds the system prompt into the first [INST] and alternates turns") {
  CHECK(format_chat(chat_format::llama2, conversation) ==
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
  CHECK_THROWS_WITH(format_chat(chat_format::llama2, {{"user", "a"}, {"user", "b"}}), Catch::Contains("alternate"));
}

TEST_CASE("unknown roles are rejected by name") {
  CHECK_THROWS_WITH(format_chat(chat_format::chatml, {{"tool", "x"}}), Catch::Contains("'tool'"));
}

TEST_CASE("the byte preset gets the plain format with BOS first") {
  auto dir = fs::temp_directory_path() / ("tessera_chat_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json")
      << R"({"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258})";
  auto tok = load_tokenizer(dir.string());
  CHECK(tok->chat() == chat_format::none);
  const auto ids = encode_chat(*tok, {{"user", "hi"}});
  REQUIRE(!ids.empty());
  CHECK(ids.front() == 256);
  CHECK(tok->decode(ids) == "user: hi\nassistant: ");
  // A tokenizer_config.json chat template picks the format.
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"})";
  CHECK(load_tokenizer(dir.string())->chat() == chat_format::chatml);
  fs::remove_all(dir);
}

TEST_CASE("mistral format has no system block and ends assistant turns with </s>") {
  CHECK(format_chat(chat_format::mistral, conversation) ==
        "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]");
}

TEST_CASE("zephyr format (TinyLlama-Chat) tags each turn and closes it with </s>") {
  CHECK(format_chat(chat_format::zephyr, {{"system", "S"}, {"user", "Hi"}}) ==
        "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
}

TEST_CASE("the chat format is recognised from the markers of a Jinja template") {
  CHECK(chat_format_of_template("{{ '<|start_header_id|>' }}") == chat_format::llama3);
  CHECK(chat_format_of_template("{{ '<|im_start|>' }}") == chat_format::chatml);
  CHECK(chat_format_of_template("[INST] <<SYS>>") == chat_format::llama2);
  CHECK(chat_format_of_template("{{ '[INST] ' + m }}") == chat_format::mistral);
  CHECK(chat_format_of_template("{{ '<|user|>\\n' }}") == chat_format::zephyr);
  CHECK(chat_format_of_template("{{ m }}") == chat_format::none);
}
