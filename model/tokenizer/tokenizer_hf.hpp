// A Hugging Face `tokenizer.json`: normalizer, pre-tokenizer, BPE model, added tokens,
// post-processor and decoder, as the `tokenizers` library runs them. Supported: byte-level
// BPE (GPT-2, Llama-3, Qwen2 style Split regexes + ByteLevel) and Llama-2 style BPE
// (Prepend/Replace normalizer or Metaspace, <0xNN> byte fallback). Anything else is a
// model_error naming the unsupported component.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "model/tokenizer/tokenizer.hpp"

namespace tessera::model {

std::unique_ptr<tokenizer> make_hf_tokenizer(const nlohmann::json& tokenizer_json, const std::string& source);

}  // namespace tessera::model
