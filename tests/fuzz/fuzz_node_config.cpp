// TOML text through the node's config loader: a node_config or a config_error,
// nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/node_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::actors;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)parse_node_config(text, "<fuzz>");
  } catch (const config_error&) {
  }
  return 0;
}
