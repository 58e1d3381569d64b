// HTTP responses of the gateway: static files, ORT files, shards (ETag, 304,
// Range/206/416), /api/status, /metrics and JSON errors, every one with the
// cross-origin isolation headers (bodies in gateway_http.cpp). PRIVATE to
// net/: included by gateway.cpp and gateway_http.cpp only (Beast inside).
#pragma once

#include "net/gateway.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace tessera::net::gateway_http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct gateway_metrics {
  std::atomic<std::uint64_t> http_requests{0}, http_errors{0}, ws_opened{0}, ws_closed{0},
      ws_frames_in{0}, ws_frames_out{0}, ws_bytes_in{0}, ws_bytes_out{0}, ws_too_big{0};
};

template <class Message>
void add_common_headers(Message& m) {
  m.set(http::field::server, "tessera");
  // Cross-origin isolation for multithreaded WASM: on every response.
  m.set("Cross-Origin-Opener-Policy", "same-origin");
  m.set("Cross-Origin-Embedder-Policy", "require-corp");
  m.set("Cross-Origin-Resource-Policy", "same-origin");
}

using request_t = http::request<http::string_body>;

// A JSON body {"error": message, "path": target} with `status`.
http::message_generator json_error(const request_t& req, http::status status, const std::string& message);

// Routes one plain HTTP request (not an upgrade).
http::message_generator handle_request(const gateway_config& config, const gateway_hooks& hooks,
                                       gateway_metrics& metrics, const request_t& req);

}  // namespace tessera::net::gateway_http
