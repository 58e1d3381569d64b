// A sentencepiece tokenizer.model (hand-decoded protobuf and precompiled
// charsmap) through load_tokenizer; a tokenizer that loads is then used
// (fuzz_tokenizer_use.hpp).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_tokenizer_use.hpp"

namespace {
tessera::fuzz::input_file file("tokenizer.model");
const std::string sample = "Hello,  world! 12 caf\xc3\xa9 \xef\xbc\xa1\xe2\x85\xa0 \xe2\x80\x9cq\xe2\x80\x9d\n\t<s> \xf0\x9f\x99\x82 ";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader takes a file that does not start with '{' as sentencepiece.
  if (size > 0 && data[0] == '{') return 0;
  tessera::fuzz::load_and_use_tokenizer(file, data, size, sample);
  return 0;
}
