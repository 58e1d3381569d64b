// The gateway: one Boost.Beast listener for the worker page and its assets,
// shard downloads, worker sockets (/ws/worker, protobuf), client sockets
// (/ws/generate, JSON) and /api/status. It knows nothing of CAF: the runtime
// plugs in through gateway_hooks, and the two meet only through the small
// interfaces below. Rule: Asio threads never block on the runtime; the runtime
// never touches a socket (ws_connection posts onto the session's strand).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace tessera::net {

// The send side of one WebSocket. Thread-safe and non-blocking: calls queue the
// frame on the session's strand and return at once. Calls after close are ignored.
class ws_connection {
public:
  virtual ~ws_connection() = default;
  virtual void send_text(std::string payload) = 0;
  virtual void send_binary(std::string payload) = 0;
  // Sends a close frame (1000 normal, 1008 policy, 1009 too big, 1011 error).
  virtual void close(uint16_t code, std::string reason) = 0;
  virtual std::string remote_endpoint() const = 0;
};
using ws_connection_ptr = std::shared_ptr<ws_connection>;

// The receive side of one WebSocket, supplied by the runtime. Called on an Asio
// thread, one call at a time per socket; must not block.
class ws_handler {
public:
  virtual ~ws_handler() = default;
  virtual void on_message(std::string payload, bool binary) = 0;
  // Exactly once, when the socket is gone (closed by either side or failed).
  virtual void on_close(const std::string& reason) = 0;
};
using ws_handler_ptr = std::shared_ptr<ws_handler>;

// A file the gateway may serve under /shards/<id>/<name>.
struct shard_file {
  std::string path;    // on disk
  std::string sha256;  // hex; used as the ETag
};

struct gateway_hooks {
  std::function<ws_handler_ptr(ws_connection_ptr)> on_worker_socket;  // /ws/worker
  std::function<ws_handler_ptr(ws_connection_ptr)> on_client_socket;  // /ws/generate
  // Current /api/status body (JSON). Must return at once (read a snapshot).
  std::function<std::string()> status_json;
  // Resolves /shards/<id>/<name>; nullopt → 404.
  std::function<std::optional<shard_file>(const std::string& id, const std::string& name)> find_shard;
};

struct gateway_config {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                          // 0: pick a free port
  std::string static_dir;                     // worker page and JS (webworker/)
  std::size_t max_frame_bytes = 64u << 20;    // larger frames close the socket with 1009
  int threads = 1;
};

class gateway {
public:
  gateway(gateway_config config, gateway_hooks hooks);
  ~gateway();  // stops if running
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Binds and starts serving on background threads; returns the bound port.
  // Throws std::runtime_error naming the address when the bind fails.
  uint16_t start();
  // Stops accepting, closes sockets (each handler gets on_close), joins threads.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tessera::net
