// A tokenizer.json (Tessera's byte preset or a Hugging Face tokenizer) through
// load_tokenizer; a tokenizer that loads is then used (fuzz_tokenizer_use.hpp).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_tokenizer_use.hpp"

namespace {
tessera::fuzz::input_file file("tokenizer.json");
const std::string sample = "Hello, world! 12 caf\xc3\xa9 \xe2\x80\x9cquoted\xe2\x80\x9d\n\t<|eot_id|> <s>\xf0\x9f\x99\x82 ";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::load_and_use_tokenizer(file, data, size, sample);
  return 0;
}
