#include "model/sentencepiece_tokenizer.hpp"

#include "model/model_error.hpp"

// libsentencepiece.so (Debian 0.1.97) carries its own copy of protobuf-lite and exports those
// symbols; loaded into a process that also loads libprotobuf.so (onnx), the two interpose and
// the process crashes in a static initializer before main. So Tessera does not link it: the
// tokenizer.model reader is being replaced by a self-contained one.
namespace tessera::model {

std::unique_ptr<tokenizer> make_sentencepiece_tokenizer(const std::string& path, const tokenizer_config&) {
  throw model_error(path + ": sentencepiece tokenizer.model is not supported in this build yet (use tokenizer.json)");
}

}  // namespace tessera::model
