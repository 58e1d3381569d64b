// The [federation] table's loader, for node_config.cpp (internal: pulls in toml++).
#pragma once

#include <string>

#include <toml++/toml.h>

#include "actors/federation_config.hpp"

namespace tessera::actors {

// Reads the table at `key` (e.g. "federation") of the file `origin`; throws
// config_error("<origin>: <key>.<name>: <problem>") for unknown keys, wrong
// types, bad values and missing required keys (id, listen, secret).
federation_config parse_federation_table(const toml::node& table, const std::string& key, const std::string& origin);

}  // namespace tessera::actors
