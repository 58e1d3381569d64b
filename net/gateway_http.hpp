// HTTP responses of the gateway: static files, ORT files, shards (ETag, 304,
// Range/206/416), /api/status, /metrics and JSON errors, every one with the
// cross-origin isolation headers (bodies in gateway_http.cpp); the state every
// session shares; the API session (gateway_api.cpp) and the dashboard's event
// stream (gateway_events.cpp). PRIVATE to net/: included
// by the gateway*.cpp files only (Beast inside).
#pragma once

#include "net/gateway.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <cstdint>
#include <string>

namespace boost::asio::ssl {
class context;
}

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

// Every session can be asked to end (on stop()); the registry counts the live ones.
class session_base {
public:
  virtual ~session_base() = default;
  virtual void shutdown() = 0;  // thread-safe: posts onto the session's strand
  // This connection's place under limits.connections_per_ip (passed on with the socket).
  std::shared_ptr<void> ip_slot;
  // Thread-safe: a session opened with a credential ends if it was revoked.
  virtual void recheck_access() {}
};

// State shared by the gateway and everything it spawned; outlives the io_context.
struct gateway_state {
  gateway_config config;
  gateway_hooks hooks;
  gateway_metrics metrics;
  std::shared_ptr<connection_counter> connections;  // limits.connections_per_ip
  std::shared_ptr<asio::ssl::context> tls;  // null: plain TCP

  // Closed by stop() before the io_context goes away: no posting after that.
  std::mutex post_mutex;
  bool post_open = true;

  std::mutex sessions_mutex;
  std::condition_variable sessions_cv;
  std::unordered_map<std::uint64_t, std::weak_ptr<session_base>> sessions;
  std::uint64_t next_session_id = 0;

  std::uint64_t add_session(std::weak_ptr<session_base> s) {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    sessions.emplace(++next_session_id, std::move(s));
    return next_session_id;
  }
  void remove_session(std::uint64_t id) {
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      sessions.erase(id);
    }
    sessions_cv.notify_all();
  }
};
using state_ptr = std::shared_ptr<gateway_state>;

// Runs fn(session) on the session's strand, unless the gateway has stopped
// posting or the session is gone (the runtime's handles on a socket use this).
template <class Session, class Fn>
void post_on_strand(gateway_state& state, const std::weak_ptr<Session>& weak, Fn fn) {
  std::lock_guard<std::mutex> lock(state.post_mutex);
  if (!state.post_open) return;
  auto session = weak.lock();
  if (!session) return;
  auto exec = session->executor();
  asio::post(exec, [session = std::move(session), fn = std::move(fn)]() mutable { fn(*session); });
}

using request_t = http::request<http::string_body>;

// POST /v1/chat/completions and /v1/completions (gateway_api.cpp): takes over
// the connection, hands the request to hooks.on_api_call and writes its reply
// (whole or as a chunked event stream), then closes the connection.
class gateway_stream;  // gateway_stream.hpp
void start_api_session(gateway_stream stream, request_t req, state_ptr state, std::shared_ptr<usage_meter> meter,
                       std::shared_ptr<void> ip_slot);
bool is_api_path(std::string_view path);

// GET /api/events (gateway_events.cpp): takes over the connection and streams
// Server-Sent Events: `event: status` with {"status": <status_json>, "live":
// <live_json>} whenever it changed (checked every 250 ms), a comment line at
// least every 5 s, until the client hangs up or the gateway stops.
void start_events_session(gateway_stream stream, request_t req, state_ptr state, std::shared_ptr<void> ip_slot);

// The status line and headers (with the cross-origin headers, no-store,
// Connection: close) of a response written by hand: chunked, or with `length`.
std::string header_text(int status, const std::string& content_type, bool chunked, std::size_t length);

// One chunk of a chunked body: the size in hex, CRLF, the data, CRLF.
std::string http_chunk(const std::string& data);

// A JSON body {"error": message, "path": target} with `status`.
http::message_generator json_error(const request_t& req, http::status status, const std::string& message);

// 401 for a refused credential: OpenAI's error shape for API routes
// (openai_shape), else {"error", "code", "path"}; with WWW-Authenticate.
http::message_generator unauthorized(const request_t& req, const std::string& code, const std::string& message,
                                     bool openai_shape);

// Routes one plain HTTP request (not an upgrade).
http::message_generator handle_request(const gateway_config& config, const gateway_hooks& hooks,
                                       gateway_metrics& metrics, const request_t& req);

}  // namespace tessera::net::gateway_http
