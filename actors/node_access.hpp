// The node's side of access control (docs/security.md): builds the gateway's
// access_control from [auth] and [node], refuses a listen address beyond
// loopback that nothing protects, and prints the join link workers open.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "actors/node_config.hpp"

namespace tessera::net {
class access_control;
}

namespace tessera::actors {

// Null when no keys_file and no tokens_file are set (everything open). Throws
// std::runtime_error for a listen address beyond loopback without both files
// unless [auth] open = true (then it logs a warning).
std::shared_ptr<net::access_control> make_access_control(const node_config& config);

// Logs "join link: http(s)://HOST:PORT/?token=TOKEN" (the worker page joins with it).
void print_join_link(const node_config& config, uint16_t port, const std::string& token);

}  // namespace tessera::actors
