// Chat prompt formatting for the common model families, so a chat API can turn messages into
// the exact text the model was trained on. The format comes from the tokenizer
// (tokenizer::chat(), chosen from tokenizer_config.json's chat_template or the vocabulary):
//   llama3  <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>...
//   chatml  <|im_start|>user\nHi<|im_end|>\n...          (Qwen, SmolLM, ...)
//   llama2  <s>[INST] <<SYS>>\n...\n<</SYS>>\n\nHi [/INST] (Llama-2 chat)
//   mistral <s>[INST] Hi [/INST]Hello!</s>[INST] ... (Mistral; system text joins the first turn)
//   zephyr  <|system|>\n...</s>\n<|user|>\nHi</s>\n<|assistant|>\n (TinyLlama-Chat, Zephyr)
//   none    "user: Hi\nassistant: " (the byte-level presets)
// Encode the result with add_special_tokens = false: the markers are already in the text.
#pragma once

#include <string>
#include <vector>

#include "model/tokenizer/tokenizer.hpp"

namespace tessera::model {

struct chat_message {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Throws model_error for an unknown role, or (llama2) turns that do not alternate user/assistant.
std::string format_chat(chat_format format, const std::vector<chat_message>& messages, bool add_generation_prompt = true);

// The same with the tokenizer's format; the ids are ready to feed the model.
std::vector<token_id> encode_chat(const tokenizer& tok, const std::vector<chat_message>& messages,
                                  bool add_generation_prompt = true);

// "llama3", "chatml", "llama2", "mistral", "zephyr", "none".
std::string to_string(chat_format format);

}  // namespace tessera::model
