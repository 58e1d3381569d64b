#include "model/tokenizer/chat_template.hpp"

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

std::string trim(const std::string& s) {
  const auto ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

void check_role(const chat_message& m) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant")
    throw model_error("chat message role '" + m.role + "' is not one of system, user, assistant");
}

std::string llama3(const std::vector<chat_message>& messages, bool gen) {
  std::string out = "<|begin_of_text|>";
  for (const auto& m : messages)
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string chatml(const std::vector<chat_message>& messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

// Llama-2 chat: the system prompt is folded into the first user turn; turns alternate.
std::string llama2(const std::vector<chat_message>& messages, bool gen) {
  std::string system;
  std::size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {
    system = "<<SYS>>\n" + trim(messages[0].content) + "\n<</SYS>>\n\n";
    first = 1;
  }
  std::string out;
  for (std::size_t i = first; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const bool expect_user = (i - first) % 2 == 0;
    if (m.role != (expect_user ? "user" : "assistant"))
      throw model_error("llama2 chat format: message " + std::to_string(i) + " has role '" + m.role + "', expected '" +
                        (expect_user ? "user" : "assistant") + "' (turns must alternate, starting with user)");
    if (expect_user) {
      out += "<s>[INST] " + (i == first ? system : std::string()) + trim(m.content) + " [/INST]";
    } else {
      out += " " + trim(m.content) + " </s>";
    }
  }
  (void)gen;  // the prompt already ends where the assistant answers
  return out;
}

// Mistral: [INST] turns without system blocks; a system message is put before the first user
// message's text; assistant turns end with </s>.
std::string mistral(const std::vector<chat_message>& messages) {
  std::string system;
  std::size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content + "\n\n";
    first = 1;
  }
  std::string out = "<s>";
  for (std::size_t i = first; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const bool expect_user = (i - first) % 2 == 0;
    if (m.role != (expect_user ? "user" : "assistant"))
      throw model_error("mistral chat format: message " + std::to_string(i) + " has role '" + m.role + "', expected '" +
                        (expect_user ? "user" : "assistant") + "' (turns must alternate, starting with user)");
    if (expect_user) out += "[INST] " + (i == first ? system : std::string()) + m.content + " [/INST]";
    else out += m.content + "</s>";
  }
  return out;
}

std::string zephyr(const std::vector<chat_message>& messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  if (gen) out += "<|assistant|>\n";
  return out;
}

std::string plain(const std::vector<chat_message>& messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += m.role + ": " + m.content + "\n";
  if (gen) out += "assistant: ";
  return out;
}

}  // namespace

std::string format_chat(chat_format format, const std::vector<chat_message>& messages, bool add_generation_prompt) {
  for (const auto& m : messages) check_role(m);
  switch (format) {
    case chat_format::llama3: return llama3(messages, add_generation_prompt);
    case chat_format::chatml: return chatml(messages, add_generation_prompt);
    case chat_format::llama2: return llama2(messages, add_generation_prompt);
    case chat_format::mistral: return mistral(messages);
    case chat_format::zephyr: return zephyr(messages, add_generation_prompt);
    case chat_format::none: break;
  }
  return plain(messages, add_generation_prompt);
}

std::vector<token_id> encode_chat(const tokenizer& tok, const std::vector<chat_message>& messages, bool add_generation_prompt) {
  const bool markers_in_text = tok.chat() != chat_format::none;
  auto ids = tok.encode(format_chat(tok.chat(), messages, add_generation_prompt), /*add_special_tokens=*/false);
  // The plain format has no markers of its own: start with BOS like any prompt.
  if (!markers_in_text && tok.bos_id()) ids.insert(ids.begin(), *tok.bos_id());
  return ids;
}

std::string to_string(chat_format format) {
  switch (format) {
    case chat_format::llama3: return "llama3";
    case chat_format::chatml: return "chatml";
    case chat_format::llama2: return "llama2";
    case chat_format::mistral: return "mistral";
    case chat_format::zephyr: return "zephyr";
    case chat_format::none: break;
  }
  return "none";
}

}  // namespace tessera::model
