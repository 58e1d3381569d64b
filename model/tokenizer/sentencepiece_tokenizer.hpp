// A sentencepiece `tokenizer.model` (Llama-2, Mistral, TinyLlama ...), read by Tessera itself
// (BPE and unigram models, byte fallback, precompiled charsmaps); see sentencepiece_tokenizer.cpp.
#pragma once

#include <memory>
#include <string>

#include "model/tokenizer/tokenizer.hpp"
#include "model/tokenizer/tokenizer_config.hpp"

namespace tessera::model {

// Loads the model proto at `path`; `cfg.add_bos_token`/`add_eos_token` choose what encode
// adds with add_special_tokens (default: BOS only, as Llama's tokenizer does).
std::unique_ptr<tokenizer> make_sentencepiece_tokenizer(const std::string& path, const tokenizer_config& cfg);

}  // namespace tessera::model
