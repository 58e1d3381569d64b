#include "model/tokenizer_hf.hpp"

#include <nlohmann/json.hpp>

#include "model/model_error.hpp"

namespace tessera::model {

std::unique_ptr<tokenizer> make_hf_tokenizer(const nlohmann::json&, const std::string& source) {
  throw model_error(source + ": Hugging Face tokenizer.json support is not in this build yet");
}

}  // namespace tessera::model
