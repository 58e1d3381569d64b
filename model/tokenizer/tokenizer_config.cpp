#include "model/tokenizer/tokenizer_config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/base/json_file.hpp"
#include "model/base/model_error.hpp"

namespace fs = std::filesystem;

namespace tessera::model {
namespace {

// A special token is written either as a string or as {"content": "...", ...}.
std::optional<std::string> token_string(const nlohmann::json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

tokenizer_config read_tokenizer_config(const fs::path& dir) {
  tokenizer_config cfg;
  if (auto j = read_json_file_if_present(dir / "tokenizer_config.json"); j && j->is_object()) {
    cfg.bos_token = token_string(*j, "bos_token");
    cfg.eos_token = token_string(*j, "eos_token");
    cfg.pad_token = token_string(*j, "pad_token");
    cfg.unk_token = token_string(*j, "unk_token");
    if (auto it = j->find("add_bos_token"); it != j->end() && it->is_boolean()) cfg.add_bos_token = it->get<bool>();
    if (auto it = j->find("add_eos_token"); it != j->end() && it->is_boolean()) cfg.add_eos_token = it->get<bool>();
    if (auto it = j->find("chat_template"); it != j->end()) {
      if (it->is_string()) {
        cfg.chat_template = it->get<std::string>();
      } else if (it->is_array()) {  // [{"name": "default", "template": "..."}, ...]
        for (const auto& t : *it)
          if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
            cfg.chat_template = t["template"].get<std::string>();
      }
    }
  }
  if (auto j = read_json_file_if_present(dir / "generation_config.json"); j && j->is_object()) {
    if (auto it = j->find("eos_token_id"); it != j->end()) {
      if (it->is_number_integer()) cfg.generation_eos_ids.push_back(it->get<token_id>());
      if (it->is_array())
        for (const auto& v : *it)
          if (v.is_number_integer()) cfg.generation_eos_ids.push_back(v.get<token_id>());
    }
  }
  return cfg;
}

chat_format chat_format_of_template(const std::string& t) {
  if (t.find("<|start_header_id|>") != std::string::npos) return chat_format::llama3;
  if (t.find("<|im_start|>") != std::string::npos) return chat_format::chatml;
  if (t.find("<<SYS>>") != std::string::npos) return chat_format::llama2;
  if (t.find("[INST]") != std::string::npos) return chat_format::mistral;  // [INST] without <<SYS>> blocks
  if (t.find("<|user|>") != std::string::npos) return chat_format::zephyr;  // TinyLlama-Chat, Zephyr
  return chat_format::none;
}

void apply_tokenizer_config(tokenizer& tok, const tokenizer_config& cfg) {
  auto lookup = [&](const std::optional<std::string>& s) -> std::optional<token_id> {
    if (!s) return std::nullopt;
    return tok.token_to_id(*s);
  };
  if (auto id = lookup(cfg.bos_token)) tok.set_bos(id);
  if (auto id = lookup(cfg.eos_token)) tok.set_eos(id);
  if (auto id = lookup(cfg.pad_token)) tok.set_pad(id);
  for (token_id id : cfg.generation_eos_ids) tok.add_stop(id);

  chat_format f = cfg.chat_template ? chat_format_of_template(*cfg.chat_template) : chat_format::none;
  if (f == chat_format::none && tok.chat() != chat_format::none) f = tok.chat();
  if (f == chat_format::none) {
    if (tok.token_to_id("<|start_header_id|>")) f = chat_format::llama3;
    else if (tok.token_to_id("<|im_start|>")) f = chat_format::chatml;
    else if (tok.kind() != "bytes" && tok.token_to_id("<s>") && tok.token_to_id("</s>")) f = chat_format::llama2;
  }
  tok.set_chat(f);
  // Chat turns end with their own marker: generation stops there too.
  if (f == chat_format::llama3)
    if (auto id = tok.token_to_id("<|eot_id|>")) tok.add_stop(*id);
  if (f == chat_format::chatml)
    if (auto id = tok.token_to_id("<|im_end|>")) tok.add_stop(*id);
}

}  // namespace tessera::model
