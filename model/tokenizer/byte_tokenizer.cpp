#include "model/tokenizer/byte_tokenizer.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

token_id required_id(const nlohmann::json& d, const char* key, const std::string& source) {
  auto it = d.find(key);
  if (it == d.end() || !it->is_number_integer())
    throw model_error(source + ": byte tokenizer needs an integer \"" + key + "\"");
  return it->get<token_id>();
}

}  // namespace

byte_tokenizer::byte_tokenizer(token_id bos, token_id eos, token_id pad) {
  for (token_id id : {bos, eos, pad})
    if (id < 256) throw model_error("byte tokenizer: special id " + std::to_string(id) + " collides with a byte id (0..255)");
  set_bos(bos);
  set_eos(eos);
  set_pad(pad);
  vocab_size_ = static_cast<std::size_t>(std::max({bos, eos, pad})) + 1;
}

std::vector<token_id> byte_tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<token_id> ids;
  ids.reserve(text.size() + 1);
  if (add_special_tokens) ids.push_back(*bos_id());
  for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

std::string byte_tokenizer::token_bytes(token_id id, bool) const {
  if (id >= 0 && id < 256) return std::string(1, static_cast<char>(id));
  if (id == bos_id()) return "<|bos|>";
  if (id == eos_id()) return "<|eos|>";
  if (id == pad_id()) return "<|pad|>";
  return {};
}

bool byte_tokenizer::is_special(token_id id) const { return id >= 256; }

std::optional<token_id> byte_tokenizer::token_to_id(std::string_view token) const {
  if (token == "<|bos|>") return bos_id();
  if (token == "<|eos|>") return eos_id();
  if (token == "<|pad|>") return pad_id();
  unsigned value = 0;
  char tail = 0;
  if (token.size() == 6 && std::sscanf(std::string(token).c_str(), "<0x%2X>%c", &value, &tail) == 1)
    return static_cast<token_id>(value);
  return std::nullopt;
}

std::string byte_tokenizer::id_to_token(token_id id) const {
  if (id >= 0 && id < 256) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(id));
    return buf;
  }
  return token_bytes(id, false);
}

std::unique_ptr<tokenizer> make_byte_tokenizer(const nlohmann::json& d, const std::string& source) {
  const token_id bos = required_id(d, "bos_token_id", source);
  const token_id eos = required_id(d, "eos_token_id", source);
  const token_id pad = required_id(d, "pad_token_id", source);
  auto tok = std::make_unique<byte_tokenizer>(bos, eos, pad);
  if (auto it = d.find("vocab_size"); it != d.end()) {
    if (!it->is_number_integer() || it->get<long long>() != static_cast<long long>(tok->vocab_size()))
      throw model_error(source + ": byte tokenizer vocab_size " + it->dump() + " does not match its ids (expected " +
                        std::to_string(tok->vocab_size()) + ")");
  }
  return tok;
}

nlohmann::json byte_tokenizer_description() {
  return nlohmann::json{{"tessera_tokenizer", "bytes"},
                        {"vocab_size", 259},
                        {"bos_token_id", 256},
                        {"eos_token_id", 257},
                        {"pad_token_id", 258}};
}

}  // namespace tessera::model
