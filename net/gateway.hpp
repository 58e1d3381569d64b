// The gateway: one Boost.Beast listener for the worker page and its assets,
// shard downloads, worker sockets (/ws/worker, protobuf), client sockets
// (/ws/generate, JSON), /api/status, /metrics, the dashboard's event stream
// (/api/events) and the OpenAI-style HTTP API. It knows nothing of CAF: the runtime
// plugs in through gateway_hooks, and the two meet only through the small
// interfaces below. Rule: Asio threads never block on the runtime; the runtime
// never touches a socket (ws_connection posts onto the session's strand).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/limits.hpp"

namespace tessera::net {

class access_control;  // net/access_control.hpp
class usage_meter;     // net/access_control.hpp

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
  // The usage meter of the API key the socket was opened with (null: no key needed).
  virtual std::shared_ptr<usage_meter> meter() const { return nullptr; }
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

// The reply side of one HTTP API request (POST /v1/...). Thread-safe and
// non-blocking like ws_connection. Either respond() once, or start_stream()
// then write() any number of times and end_stream(). Calls after the client
// went away are ignored.
class api_reply {
public:
  virtual ~api_reply() = default;
  // A whole response (Content-Length).
  virtual void respond(int status, std::string content_type, std::string body) = 0;
  // The status line and headers of a chunked response; write() sends chunks.
  virtual void start_stream(int status, std::string content_type) = 0;
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;
};
using api_reply_ptr = std::shared_ptr<api_reply>;

// What the runtime hears about one HTTP API request after handing it back a
// handler: exactly one call, when the client disconnected before the reply
// ended (never after a complete reply).
class http_request_handler {
public:
  virtual ~http_request_handler() = default;
  virtual void on_disconnect() = 0;
};
using http_request_handler_ptr = std::shared_ptr<http_request_handler>;

struct api_call {
  std::string path;   // "/v1/chat/completions" or "/v1/completions"
  std::string body;
  std::string served_model;  // model.name of /api/status ("" while unknown)
  std::shared_ptr<usage_meter> meter;  // the caller's API key's meter (null: no key needed)
};

// A file the gateway may serve under /shards/<id>/<name>.
struct shard_file {
  std::string path;    // on disk
  std::string sha256;  // hex; used as the ETag
};

struct gateway_hooks {
  std::function<ws_handler_ptr(ws_connection_ptr)> on_worker_socket;  // /ws/worker
  std::function<ws_handler_ptr(ws_connection_ptr)> on_client_socket;  // /ws/generate
  // POST /v1/chat/completions and /v1/completions.
  std::function<http_request_handler_ptr(api_call, api_reply_ptr)> on_api_call;
  // Current /api/status body (JSON). Must return at once (read a snapshot).
  std::function<std::string()> status_json;
  // The runtime's part of /metrics (Prometheus text format; the gateway adds
  // its own counters) and the dashboard's live view (/api/live, and with
  // status_json the /api/events stream). Both must return at once.
  std::function<std::string()> metrics_text;
  std::function<std::string()> live_json;
  // Resolves /shards/<id>/<name>; nullopt → 404.
  std::function<std::optional<shard_file>(const std::string& id, const std::string& name)> find_shard;
};

struct gateway_config {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                          // 0: pick a free port
  std::string static_dir;                     // worker page and JS (webworker/)
  gateway_limits limits;                      // sizes, queues, connections, idle timeout, origins
  int threads = 1;
  // TLS (https/wss on the same port) when both are set: PEM certificate chain and key.
  std::string tls_cert_file, tls_key_file;
  // Who may do what (null: everything open). Files it names are re-read when they change.
  std::shared_ptr<access_control> access;
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
