// See json_guard.hpp.
#include "actors/json_guard.hpp"

#include <nlohmann/json.hpp>

namespace tessera::actors {

std::optional<std::string> json_depth_problem(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped byte cannot end the string
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return "JSON nests deeper than " + std::to_string(max_depth) + " levels (limits.max_json_depth) at byte " +
               std::to_string(i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_excerpt(const nlohmann::json& value, std::size_t max_bytes) {
  std::string text = dump_json(value);
  if (text.size() <= max_bytes)
    return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80)
    --cut;  // never split a UTF-8 sequence
  text.resize(cut);
  return text + "...";
}

}  // namespace tessera::actors
