// Reading a JSON file with errors a user can act on: the file is named when it
// cannot be opened or does not parse (model_error).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tessera::model {

// `what` prefixes the "cannot open" message (e.g. "tokenizer file").
nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what = "");
// nullopt when the file cannot be opened; a present but malformed file still throws.
std::optional<nlohmann::json> read_json_file_if_present(const std::filesystem::path& path);

}  // namespace tessera::model
