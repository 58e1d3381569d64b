// A small synchronous WebSocket client for `tessera prompt` and tests.
// ws://host:port/path, or wss:// (TLS, the server's certificate checked against
// the system's CAs plus an optional CA file). One thread uses one client at a time.
// Every call takes a timeout; when a call times out or fails the connection is
// dropped (is_open() turns false) and later sends throw. No Beast in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace tessera::net {

struct ws_read_result {
  enum class kind {
    message,  // payload/binary hold one whole message
    closed,   // the server closed: close_code/close_reason say why (1009: our frame was too big)
    timeout,  // nothing arrived in time; the connection has been dropped
    error,    // transport failure; error says what
  };
  kind what = kind::error;
  std::string payload;
  bool binary = false;
  uint16_t close_code = 0;
  std::string close_reason;
  std::string error;
};

struct ws_connect_options {
  std::string ca_file;  // wss: PEM CA to trust besides the system's ("" for none)
  std::string api_key;  // sent as Authorization: Bearer KEY ("" for none)
};

class ws_client {
public:
  // max_message_bytes: largest message the client accepts from the server.
  explicit ws_client(std::size_t max_message_bytes = 64u << 20);
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // Connects and performs the WebSocket handshake. url: "ws://host:port/path"
  // or "wss://...". Throws std::runtime_error naming the URL on a bad URL,
  // refusal, an untrusted certificate or timeout.
  void connect(const std::string& url, std::chrono::milliseconds timeout = std::chrono::seconds(10),
               const ws_connect_options& options = {});

  // Sends one whole message. Throws std::runtime_error when not open or on failure.
  void send_text(const std::string& payload, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void send_binary(const std::string& payload, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Waits for the next message, the server's close, or the timeout.
  ws_read_result read(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Close handshake (code 1000 by default), bounded by timeout; never throws.
  void close(uint16_t code = 1000, const std::string& reason = "", std::chrono::milliseconds timeout = std::chrono::seconds(2));

  bool is_open() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tessera::net
