// The [federation] section of a node's config: who this node is among its
// peers, where it listens for them (CAF's middleman), whom it dials, and the
// shared secret both sides prove they know before any other message counts.
// No CAF and no TOML here; the loader is in federation_config.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::actors {

// One HOST:PORT of the federation (a peer, or this node's own listen address).
struct federation_address {
  std::string host;
  uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
  bool operator==(const federation_address& o) const { return host == o.host && port == o.port; }
  bool operator<(const federation_address& o) const { return host < o.host || (host == o.host && port < o.port); }
};

struct federation_config {
  bool enabled = false;            // true when the config has a [federation] table
  std::string id;                  // unique among the peers: letters, digits, '.', '_', '-'; the lowest alive leads
  federation_address listen;       // where peers reach this node (CAF port, not the gateway's)
  std::vector<federation_address> peers;  // dialed until connected, again after a loss
  std::string secret;              // shared by every node; never sent, only HMAC proofs of it
  uint32_t heartbeat_ms = 500;           // a node tells every peer it is alive this often
  uint32_t heartbeat_timeout_ms = 2000;  // a peer silent longer than this is dead
  std::string state_dir;           // the election epoch survives restarts here (default: build/federation/<id>)
  // One pool (docs/federation.md): workers report to the leader's planner, which
  // plans over every node's workers; any node serves prompts through that plan.
  bool pool = false;
};

// Parses "HOST:PORT" (port 1..65535). Throws config_error naming `what` and the value.
federation_address parse_federation_address(const std::string& text, const std::string& what);

}  // namespace tessera::actors
