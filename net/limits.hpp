// Hard limits of the gateway and the rules that enforce them, kept apart from
// Beast so they are cheap to compile and easy to test: the sizes and counts a
// peer may use (frames, headers, bodies, queued bytes, connections per IP,
// silence), the WebSocket Origin check, the per-IP connection counter, and
// the escaping of peer-supplied text before it reaches a log line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::net {

// Every limit names its config key ([limits] in the node config) in the error
// a peer gets when it crosses it.
struct gateway_limits {
  std::size_t client_frame_bytes = 2u << 20;        // one /ws/generate message
  std::size_t worker_frame_bytes = 64u << 20;       // one /ws/worker message (hidden states)
  std::size_t client_send_queue_bytes = 8u << 20;   // unsent bytes queued for one client socket
  std::size_t worker_send_queue_bytes = 256u << 20; // unsent bytes queued for one worker socket
  std::size_t http_header_bytes = 16u << 10;        // request line + headers
  std::size_t http_body_bytes = 2u << 20;           // POST bodies (the OpenAI routes)
  std::uint32_t connections_per_ip = 256;           // open TCP connections from one address
  std::uint32_t ws_idle_timeout_ms = 300000;        // no frame either way this long: closed
  // Origins allowed to open a WebSocket besides the node's own origin and
  // loopback pages ("*" allows any). From [node] allowed_origins.
  std::vector<std::string> allowed_origins;
};

// Why a WebSocket upgrade with this Origin header is refused, or nullopt when
// it is allowed. Allowed: no Origin header (not a browser), an origin equal to
// the request's Host (same origin; default ports ignored), a loopback origin
// (localhost, 127.0.0.0/8, [::1]), or one listed in `allowed` (exact, case-
// insensitive, trailing '/' ignored; "*" allows all). "null" and malformed
// origins are refused. The reason names the origin and node.allowed_origins.
std::optional<std::string> origin_refusal(std::string_view origin, std::string_view host,
                                          const std::vector<std::string>& allowed);

// Counts open connections per remote address. acquire() returns a slot that
// holds one connection until it is destroyed (thread-safe), or null when the
// address already holds `limit` connections.
class connection_counter {
public:
  explicit connection_counter(std::uint32_t limit);
  std::shared_ptr<void> acquire(const std::string& address);
  std::uint32_t open(const std::string& address) const;
  std::uint32_t limit() const { return limit_; }

private:
  struct table;
  std::shared_ptr<table> table_;
  std::uint32_t limit_;
};

// `text` made safe for one log field or status string: control bytes (and
// DEL) become \n, \r, \t or \xNN, backslashes and double quotes are escaped,
// bytes that are not valid UTF-8 become \xNN, and text past `max_bytes` is cut
// with a note of the full length. The result is valid UTF-8 on one line.
std::string escape_text(std::string_view text, std::size_t max_bytes = 256);

}  // namespace tessera::net
