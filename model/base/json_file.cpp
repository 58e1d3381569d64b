#include "model/base/json_file.hpp"

#include <fstream>
#include <sstream>

#include "model/base/model_error.hpp"

namespace tessera::model {

std::optional<nlohmann::json> read_json_file_if_present(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what) {
  auto json = read_json_file_if_present(path);
  if (!json) throw model_error("cannot open " + (what.empty() ? "" : what + " ") + path.string());
  return std::move(*json);
}

}  // namespace tessera::model
