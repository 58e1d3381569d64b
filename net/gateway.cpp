// The Beast gateway (see gateway.hpp). One acceptor; each TCP connection is an
// http_session on its own strand that serves files and JSON, and on a WebSocket
// upgrade hands its socket to a ws_session. A ws_session owns the socket: one
// pending read, a queue of writes, and the handler's on_close exactly once.
// The runtime reaches a socket only through ws_connection_impl, which posts onto
// the session's strand; nothing here waits on the runtime.
#include "net/gateway.hpp"

#include "net/access_control.hpp"
#include "net/gateway_http.hpp"
#include "net/gateway_stream.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tessera::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
namespace fs = std::filesystem;
using namespace gateway_http;

constexpr auto http_read_timeout = std::chrono::seconds(30);
constexpr auto close_grace = std::chrono::seconds(5);   // a socket asked to close is cut after this
constexpr std::size_t read_chunk = 4u << 20;           // the most one WebSocket read asks for

class ws_session;

// The runtime's handle on a socket: posts onto the session's strand.
class ws_connection_impl final : public ws_connection {
public:
  ws_connection_impl(std::weak_ptr<ws_session> session, state_ptr state, std::string remote, usage_meter_ptr meter)
      : session_(std::move(session)), state_(std::move(state)), remote_(std::move(remote)), meter_(std::move(meter)) {}
  void send_text(std::string payload) override;
  void send_binary(std::string payload) override;
  void close(uint16_t code, std::string reason) override;
  std::string remote_endpoint() const override { return remote_; }
  usage_meter_ptr meter() const override { return meter_; }

private:
  template <class Fn>
  void post_to_session(Fn fn);

  std::weak_ptr<ws_session> session_;
  state_ptr state_;
  std::string remote_;
  usage_meter_ptr meter_;
};

enum class ws_route { worker, client };

class ws_session final : public session_base, public std::enable_shared_from_this<ws_session> {
public:
  // `access`: what the gateway decided about the upgrade request; a refused
  // socket is accepted only to be closed with 1008 and the reason.
  ws_session(gateway_stream stream, ws_route route, state_ptr state, access_decision access, std::string subprotocol)
      : ws_(std::move(stream)), timer_(ws_.get_executor()), route_(route), state_(std::move(state)),
        access_(std::move(access)), subprotocol_(std::move(subprotocol)) {
    beast::error_code ec;
    const auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    remote_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~ws_session() override {
    notify_close("gateway stopped");  // only if the read loop never got to say why
    if (id_) state_->remove_session(id_);
  }

  void run(request_t req) {
    id_ = state_->add_session(weak_from_this());
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = websocket::stream_base::none();  // on_tick() applies limits.ws_idle_timeout_ms
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([proto = subprotocol_](websocket::response_type& res) {
      add_common_headers(res);
      if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
    }));
    ws_.read_message_max(0);  // no cap in Beast: on_read() applies the route's frame limit with a reason
    ws_.auto_fragment(false);
    ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
  }

  void shutdown() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      if (self->accepted_)
        self->request_close(websocket::close_code::going_away, "gateway stopping");
      else
        self->force_close();
    });
  }

  // Force: close the TCP socket; the pending read fails and on_close follows.
  void force_close() {
    ws_.next_layer().shutdown_and_close();
  }

  asio::any_io_executor executor() { return ws_.get_executor(); }

  // Closes the socket (1008) when the credential it was opened with is gone.
  void recheck_access() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      const auto& access = self->state_->config.access;
      if (!access || !self->accepted_ || self->access_.credential_id.empty() ||
          access->still_valid(self->access_.kind, self->access_.credential_id))
        return;
      const std::string why = self->access_.kind == credential_kind::join_token ? "join token revoked" : "API key revoked";
      spdlog::warn("gateway closing socket remote={} route={} principal={}: {}", self->remote_, self->route_name(),
                   self->access_.principal, why);
      self->request_close(websocket::close_code::policy_error, why);
    });
  }

  // ---- on the strand only ----
  void enqueue(std::string payload, bool binary) {
    if (close_requested_ || ended_) return;
    queued_bytes_ += payload.size();
    queue_.push_back({std::move(payload), binary});
    if (queued_bytes_ > send_queue_limit() && queue_.size() > 1) return send_queue_overflow();
    if (!writing_) write_next();
  }

  void request_close(uint16_t code, std::string reason) {
    if (close_requested_ || ended_) return;
    close_requested_ = true;
    if (reason.size() > 123) reason.resize(123);  // RFC 6455: the close payload is at most 125 bytes
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    if (!writing_) start_close();
    close_deadline_ = std::chrono::steady_clock::now() + close_grace;
  }

private:
  struct frame {
    std::string payload;
    bool binary;
  };

  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::warn("gateway websocket handshake failed remote={} error={}", remote_, ec.message());
      ended_ = true;
      return;
    }
    accepted_ = true;
    last_activity_ = std::chrono::steady_clock::now();
    arm_timer();
    ++state_->metrics.ws_opened;
    if (!access_.allowed) {
      spdlog::warn("gateway refused websocket remote={} route={} code={}: {}", remote_, route_name(), access_.code,
                   access_.message);
      if (route_ == ws_route::client)
        enqueue(nlohmann::json{{"error", access_.message}, {"code", access_.code}}.dump(), false);
      request_close(websocket::close_code::policy_error, access_.message);
      do_read();
      return;
    }
    auto conn = std::make_shared<ws_connection_impl>(weak_from_this(), state_, remote_, access_.meter);
    const auto& hook = route_ == ws_route::worker ? state_->hooks.on_worker_socket : state_->hooks.on_client_socket;
    try {
      if (hook) handler_ = hook(conn);
    } catch (const std::exception& e) {
      spdlog::error("gateway socket hook threw remote={} route={} error={}", remote_, route_name(), e.what());
    }
    spdlog::debug("gateway websocket open remote={} route={}", remote_, route_name());
    if (!handler_) {
      request_close(websocket::close_code::try_again_later, "no handler for this socket");
    }
    do_read();
  }

  // One read of at most the rest of the frame limit (+1 to see it crossed).
  void do_read() {
    const std::size_t room = discarding_ ? read_chunk : frame_limit() - std::min(frame_limit(), message_bytes_) + 1;
    ws_.async_read_some(buffer_, std::min(room, read_chunk),
                        beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t bytes) {
    if (ec) {
      std::string why;
      if (ec == websocket::error::closed) {
        const auto& r = ws_.reason();
        why = "closed code=" + std::to_string(r.code) + (r.reason.empty() ? "" : " reason=" + escape_text(r.reason.c_str()));
      } else {
        why = "error: " + ec.message();
      }
      if (!limit_why_.empty()) why = limit_why_ + " (" + why + ")";  // we closed it for crossing a limit
      ended_ = true;
      queue_.clear();
      queued_bytes_ = 0;
      // Bad input from the peer (malformed frames) is worth a warning; oversized ones were warned of already.
      const bool peer_fault = ec.category() == websocket::make_error_code(websocket::error::closed).category();
      if (peer_fault && ec != websocket::error::closed)
        spdlog::warn("gateway websocket failed remote={} route={} {}", remote_, route_name(), why);
      else
        spdlog::debug("gateway websocket end remote={} route={} {}", remote_, route_name(), why);
      notify_close(why);
      return;
    }
    last_activity_ = std::chrono::steady_clock::now();
    state_->metrics.ws_bytes_in += bytes;
    message_bytes_ += bytes;
    if (discarding_ || message_bytes_ > frame_limit()) {
      if (!discarding_) refuse_frame();
      buffer_.consume(buffer_.size());
      if (ws_.is_message_done()) discarding_ = false, message_bytes_ = 0;
      return do_read();
    }
    if (!ws_.is_message_done()) return do_read();
    message_bytes_ = 0;
    ++state_->metrics.ws_frames_in;
    std::string payload = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    const bool binary = ws_.got_binary();
    // Frame types are the runtime's call (a worker sending text is disconnected
    // by its proxy; a client sending binary gets an error and keeps the socket).
    if (close_requested_) {
      // Closing: drop what arrives until the peer's close frame.
    } else if (handler_) {
      try {
        handler_->on_message(std::move(payload), binary);
      } catch (const std::exception& e) {
        spdlog::error("gateway websocket handler threw remote={} route={} error={}", remote_, route_name(), e.what());
        request_close(websocket::close_code::internal_error, "internal error");
      }
    }
    do_read();
  }

  void write_next() {
    writing_ = true;
    ws_.binary(queue_.front().binary);
    ws_.async_write(asio::buffer(queue_.front().payload),
                    beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t bytes) {
    writing_ = false;
    if (ec) {
      spdlog::debug("gateway websocket write failed remote={} error={}", remote_, ec.message());
      queue_.clear();
      queued_bytes_ = 0;
      force_close();  // the read fails next and reports the end
      return;
    }
    last_activity_ = std::chrono::steady_clock::now();
    ++state_->metrics.ws_frames_out;
    state_->metrics.ws_bytes_out += bytes;
    queued_bytes_ -= queue_.front().payload.size();
    queue_.pop_front();
    if (!queue_.empty())
      write_next();
    else if (close_requested_)
      start_close();
  }

  void start_close() {
    if (ended_) return;
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) self->force_close();
      // Otherwise the read loop sees the peer's close frame (error::closed).
    });
  }

  void notify_close(const std::string& why) {
    if (close_notified_) return;
    close_notified_ = true;
    if (accepted_) ++state_->metrics.ws_closed;
    if (auto h = std::move(handler_)) {
      try {
        h->on_close(why);
      } catch (const std::exception& e) {
        spdlog::error("gateway websocket on_close threw remote={} error={}", remote_, e.what());
      }
    }
  }

  const char* route_name() const { return route_ == ws_route::worker ? "worker" : "client"; }

  // ---- hard limits (net/limits.hpp), on the strand ----
  const gateway_limits& limits() const { return state_->config.limits; }
  std::size_t frame_limit() const {
    return route_ == ws_route::worker ? limits().worker_frame_bytes : limits().client_frame_bytes;
  }
  std::size_t send_queue_limit() const {
    return route_ == ws_route::worker ? limits().worker_send_queue_bytes : limits().client_send_queue_bytes;
  }
  std::string limit_name(const char* what) const {
    return std::string("limits.") + (route_ == ws_route::worker ? "worker_" : "client_") + what;
  }

  // A message past the frame limit: the rest of it is dropped as it arrives, a
  // client hears why in an error frame, and the socket closes with 1009.
  void refuse_frame() {
    ++state_->metrics.ws_too_big;
    discarding_ = true;
    const std::string why = "frame over " + std::to_string(frame_limit()) + " bytes (" + limit_name("frame") + ")";
    spdlog::warn("gateway websocket frame refused remote={} route={} {}", remote_, route_name(), why);
    if (!close_requested_) limit_why_ = why;
    if (route_ == ws_route::client)
      enqueue(nlohmann::json{{"error", why}, {"code", "frame_too_big"}}.dump(), false);
    request_close(websocket::close_code::too_big, why);
  }

  // The peer reads slower than the runtime writes: unsent frames are dropped
  // (the one being written stays) and the socket closes with 1008.
  void send_queue_overflow() {
    const std::string why = "send queue over " + std::to_string(send_queue_limit()) + " bytes (" +
                            limit_name("send_queue") + "): the peer reads too slowly";
    spdlog::warn("gateway websocket closed remote={} route={} {}", remote_, route_name(), why);
    limit_why_ = why;
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queued_bytes_ -= queue_.back().payload.size();
      queue_.pop_back();
    }
    request_close(websocket::close_code::policy_error, why);
  }

  // Once a second at most: closes a socket silent past limits.ws_idle_timeout_ms,
  // and cuts one whose close did not finish within close_grace.
  void arm_timer() {
    const auto idle = std::chrono::milliseconds(limits().ws_idle_timeout_ms);
    timer_.expires_after(std::clamp<std::chrono::milliseconds>(idle / 4, std::chrono::milliseconds(20),
                                                               std::chrono::milliseconds(1000)));
    timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_tick();
    });
  }

  void on_tick() {
    if (ended_) return;
    const auto now = std::chrono::steady_clock::now();
    if (close_deadline_ && now >= *close_deadline_) return force_close();
    const auto idle = std::chrono::milliseconds(limits().ws_idle_timeout_ms);
    if (!close_requested_ && now - last_activity_ > idle) {
      const std::string why = "idle for more than " + std::to_string(idle.count()) + " ms (limits.ws_idle_timeout_ms)";
      spdlog::info("gateway websocket closed remote={} route={} {}", remote_, route_name(), why);
      limit_why_ = why;
      request_close(websocket::close_code::policy_error, why);
    }
    arm_timer();
  }

  websocket::stream<gateway_stream> ws_;
  asio::steady_timer timer_;
  ws_route route_;
  state_ptr state_;
  access_decision access_;
  std::string subprotocol_;
  std::uint64_t id_ = 0;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::deque<frame> queue_;
  std::size_t queued_bytes_ = 0;   // payload bytes in queue_
  std::string limit_why_;          // the limit this socket was closed for, if any
  std::size_t message_bytes_ = 0;  // bytes of the message being read
  bool discarding_ = false;        // the message being read is over the limit
  std::chrono::steady_clock::time_point last_activity_;
  std::optional<std::chrono::steady_clock::time_point> close_deadline_;
  ws_handler_ptr handler_;
  websocket::close_reason close_reason_;
  bool accepted_ = false, writing_ = false, close_requested_ = false, ended_ = false, close_notified_ = false;
};

template <class Fn>
void ws_connection_impl::post_to_session(Fn fn) {
  post_on_strand(*state_, session_, std::move(fn));
}

void ws_connection_impl::send_text(std::string payload) {
  post_to_session([p = std::move(payload)](ws_session& s) mutable { s.enqueue(std::move(p), false); });
}
void ws_connection_impl::send_binary(std::string payload) {
  post_to_session([p = std::move(payload)](ws_session& s) mutable { s.enqueue(std::move(p), true); });
}
void ws_connection_impl::close(uint16_t code, std::string reason) {
  post_to_session([code, r = std::move(reason)](ws_session& s) mutable { s.request_close(code, std::move(r)); });
}

class http_session final : public session_base, public std::enable_shared_from_this<http_session> {
public:
  http_session(tcp::socket socket, state_ptr state)
      : stream_(std::move(socket), state->tls.get()), state_(std::move(state)) {}
  ~http_session() override {
    if (id_) state_->remove_session(id_);
  }

  void run() {
    id_ = state_->add_session(weak_from_this());
    if (!stream_.is_tls()) {
      asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&http_session::do_read, shared_from_this()));
      return;
    }
    stream_.tcp().expires_after(http_read_timeout);
    stream_.tls().async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        // A plain-HTTP request to a TLS port, or a client that does not trust the certificate.
        spdlog::debug("gateway tls handshake failed error={}", ec.message());
        return;
      }
      self->do_read();
    });
  }

  void shutdown() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->stream_.shutdown_and_close(); });
  }

private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(state_->config.limits.http_header_bytes, UINT32_MAX)));
    parser_->body_limit(state_->config.limits.http_body_bytes);
    stream_.tcp().expires_after(http_read_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return close_send();
    if (ec) {
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        ++state_->metrics.http_errors;
        request_t bad;
        bad.version(11);
        bad.keep_alive(false);
        const bool body = ec == http::error::body_limit;
        const auto limit = body ? state_->config.limits.http_body_bytes : state_->config.limits.http_header_bytes;
        write(json_error(bad, body ? http::status::payload_too_large : http::status::request_header_fields_too_large,
                         std::string(body ? "request body" : "request headers") + " over " + std::to_string(limit) +
                             " bytes (limits." + (body ? "http_body" : "http_header") + ")"),
              false);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        // Malformed request: answer 400 once, then hang up.
        ++state_->metrics.http_errors;
        request_t bad;
        bad.version(11);
        bad.keep_alive(false);
        write(json_error(bad, http::status::bad_request, "malformed request: " + ec.message()), false);
      }
      return;
    }
    request_t req = parser_->release();
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    const bool upgrade = websocket::is_upgrade(req);
    const auto presented = read_credentials(std::string(req[http::field::authorization]), target,
                                            std::string(req[http::field::sec_websocket_protocol]));
    const auto route = route_of(path, upgrade);
    access_decision access;
    access.allowed = true;
    if (state_->config.access && route != access_route::open) access = state_->config.access->check(route, presented);
    if (upgrade) {
      std::optional<ws_route> ws;
      if (path == "/ws/worker") ws = ws_route::worker;
      if (path == "/ws/generate") ws = ws_route::client;
      if (ws) {
        if (auto refusal = origin_refusal(req[http::field::origin], req[http::field::host],
                                          state_->config.limits.allowed_origins)) {
          ++state_->metrics.http_errors;
          spdlog::warn("gateway websocket refused remote={} {}", remote_address(), *refusal);
          req.keep_alive(false);  // the answer says so, then the connection closes
          return write(json_error(req, http::status::forbidden, *refusal), false);
        }
        stream_.tcp().expires_never();
        const std::string subprotocol = presented.offered_tessera_protocol ? "tessera" : presented.first_subprotocol;
        auto session = std::make_shared<ws_session>(std::move(stream_), *ws, state_, std::move(access), subprotocol);
        session->ip_slot = ip_slot;
        session->run(std::move(req));
        return;
      }
      return write(json_error(req, http::status::not_found, "no websocket endpoint here"), req.keep_alive());
    }
    if (!access.allowed) {
      ++state_->metrics.http_errors;
      spdlog::warn("gateway refused request path={} code={}: {}", path, access.code, access.message);
      return write(unauthorized(req, access.code, access.message, route == access_route::client), req.keep_alive());
    }
    if (req.method() == http::verb::post && is_api_path(path)) {
      stream_.tcp().expires_never();
      return start_api_session(std::move(stream_), std::move(req), state_, access.meter, ip_slot);
    }
    if (req.method() == http::verb::get && path == "/api/events") {
      stream_.tcp().expires_never();
      return start_events_session(std::move(stream_), std::move(req), state_, ip_slot);
    }
    const bool keep_alive = req.keep_alive();
    try {
      write(handle_request(state_->config, state_->hooks, state_->metrics, req), keep_alive);
    } catch (const std::exception& e) {
      ++state_->metrics.http_errors;
      spdlog::error("gateway request failed target={} error={}", escape_text(req.target()), escape_text(e.what()));
      write(json_error(req, http::status::internal_server_error, e.what()), keep_alive);
    }
  }

  void write(http::message_generator msg, bool keep_alive) {
    keep_alive = keep_alive && msg.keep_alive();
    stream_.tcp().expires_after(http_read_timeout);
    beast::async_write(stream_, std::move(msg),
                       beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    if (ec) return;
    if (!keep_alive) return close_send();
    do_read();
  }

  // Half-closes, then reads what the peer still sends until it closes too (at
  // most close_grace): closing with unread bytes would reset the connection
  // and could lose the answer (a 413 sent while the body still arrives).
  void close_send() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.tcp().expires_after(close_grace);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->drain();
    });
  }

  std::string remote_address() {
    beast::error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string();
  }

  gateway_stream stream_;
  state_ptr state_;
  std::uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 4096> drain_buf_{};
};

// A connection over limits.connections_per_ip: answered 429 naming the limit,
// then closed (after the peer's bytes are drained, so the answer arrives).
class refused_connection : public std::enable_shared_from_this<refused_connection> {
public:
  refused_connection(tcp::socket socket, std::string body) : stream_(std::move(socket)) {
    text_ = "HTTP/1.1 429 Too Many Requests\r\nServer: tessera\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  void run() {
    stream_.expires_after(close_grace);
    asio::async_write(stream_, asio::buffer(text_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

private:
  void drain() {
    stream_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->drain();
    });
  }
  beast::tcp_stream stream_;
  std::string text_;
  std::array<char, 4096> buf_{};
};

}  // namespace

std::shared_ptr<asio::ssl::context> gateway_http::make_server_tls_context(const std::string& cert_file,
                                                                         const std::string& key_file) {
  if (cert_file.empty() || key_file.empty())
    throw std::runtime_error("gateway: TLS needs both node.tls_cert and node.tls_key (got cert='" + cert_file +
                             "', key='" + key_file + "')");
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::runtime_error("gateway: cannot load TLS certificate '" + cert_file + "': " + ec.message());
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("gateway: cannot load TLS key '" + key_file + "': " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::runtime_error("gateway: TLS key '" + key_file + "' does not match certificate '" + cert_file + "'");
  return ctx;
}

struct gateway::impl {
  state_ptr state;
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> access_timer;
  std::vector<std::thread> threads;
  bool started = false, stopped = false;

  // Once a second: re-read changed credential files; sockets whose credential
  // was revoked close with 1008.
  void watch_access() {
    access_timer->expires_after(std::chrono::seconds(1));
    access_timer->async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::string error;
      if (state->config.access->reload_if_changed(&error)) {
        spdlog::info("gateway credentials reloaded");
        // Collected under the lock, used outside it: the last reference to a
        // session may drop here, and its destructor takes sessions_mutex.
        std::vector<std::shared_ptr<session_base>> live;
        {
          std::lock_guard<std::mutex> lock(state->sessions_mutex);
          for (auto& [id, weak] : state->sessions)
            if (auto session = weak.lock()) live.push_back(std::move(session));
        }
        for (auto& session : live) session->recheck_access();
      }
      if (!error.empty()) spdlog::error("gateway credentials not reloaded (previous ones stay): {}", error);
      watch_access();
    });
  }

  void do_accept() {
    acceptor->async_accept(asio::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) {
        spdlog::warn("gateway accept failed error={}", ec.message());
      } else {
        accept(std::move(socket));
      }
      do_accept();
    });
  }

  // Each connection holds a slot of its address (limits.connections_per_ip).
  void accept(tcp::socket socket) {
    beast::error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    const std::string address = ec ? std::string("?") : ep.address().to_string();
    auto slot = state->connections->acquire(address);
    if (!slot) {
      const auto limit = state->connections->limit();
      spdlog::warn("gateway connection refused remote={} limits.connections_per_ip={}", address, limit);
      const std::string why = "too many connections from " + address + ": the limit is " + std::to_string(limit) +
                              " (limits.connections_per_ip)";
      std::make_shared<refused_connection>(std::move(socket), nlohmann::json{{"error", why}}.dump())->run();
      return;
    }
    auto session = std::make_shared<http_session>(std::move(socket), state);
    session->ip_slot = std::move(slot);
    session->run();
  }

  std::size_t live_sessions() {
    std::lock_guard<std::mutex> lock(state->sessions_mutex);
    return state->sessions.size();
  }

  // Asks every live session to end, then waits up to `limit` for them to go.
  bool end_sessions(bool force, std::chrono::milliseconds limit) {
    std::vector<std::shared_ptr<session_base>> live;
    {
      std::lock_guard<std::mutex> lock(state->sessions_mutex);
      for (auto& [id, weak] : state->sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) {
      if (force) {
        if (auto ws = std::dynamic_pointer_cast<ws_session>(s))
          asio::post(ws->executor(), [ws] { ws->force_close(); });
        else
          s->shutdown();
      } else {
        s->shutdown();
      }
    }
    live.clear();
    std::unique_lock<std::mutex> lock(state->sessions_mutex);
    return state->sessions_cv.wait_for(lock, limit, [this] { return state->sessions.empty(); });
  }
};

gateway::gateway(gateway_config config, gateway_hooks hooks) : impl_(std::make_unique<impl>()) {
  impl_->state = std::make_shared<gateway_state>();
  impl_->state->config = std::move(config);
  impl_->state->hooks = std::move(hooks);
  impl_->state->connections = std::make_shared<connection_counter>(impl_->state->config.limits.connections_per_ip);
}

gateway::~gateway() { stop(); }

uint16_t gateway::start() {
  if (impl_->started) throw std::runtime_error("gateway: start() called twice");
  impl_->started = true;
  const auto& cfg = impl_->state->config;
  const int threads = cfg.threads < 1 ? 1 : cfg.threads;
  impl_->ioc = std::make_unique<asio::io_context>(threads);
  const std::string where = cfg.host + ":" + std::to_string(cfg.port);
  if (!cfg.tls_cert_file.empty() || !cfg.tls_key_file.empty()) {
    try {
      impl_->state->tls = make_server_tls_context(cfg.tls_cert_file, cfg.tls_key_file);
    } catch (...) {
      impl_->ioc.reset();
      impl_->started = false;
      throw;
    }
  }
  try {
    tcp::resolver resolver(*impl_->ioc);
    const auto results = resolver.resolve(cfg.host, std::to_string(cfg.port), tcp::resolver::passive);
    const tcp::endpoint endpoint = results.begin()->endpoint();
    impl_->acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(*impl_->ioc));
    impl_->acceptor->open(endpoint.protocol());
    impl_->acceptor->set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor->bind(endpoint);
    impl_->acceptor->listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    impl_->acceptor.reset();
    impl_->ioc.reset();
    impl_->started = false;
    throw std::runtime_error("gateway: cannot listen on " + where + ": " + e.what());
  }
  const uint16_t port = impl_->acceptor->local_endpoint().port();
  impl_->do_accept();
  if (cfg.access) {
    impl_->access_timer = std::make_unique<asio::steady_timer>(*impl_->ioc);
    impl_->watch_access();
  }
  for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([ioc = impl_->ioc.get()] { ioc->run(); });
  spdlog::info("gateway listening host={} port={} tls={} static_dir={} threads={}", cfg.host, port,
               impl_->state->tls ? "on" : "off", cfg.static_dir, threads);
  return port;
}

void gateway::stop() {
  if (!impl_ || !impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  auto* acceptor = impl_->acceptor.get();
  asio::post(acceptor->get_executor(), [acceptor] {
    beast::error_code ec;
    acceptor->close(ec);
  });
  // Polite first (WebSocket close 1001, the peer answers), then by force.
  if (!impl_->end_sessions(false, std::chrono::milliseconds(2000)))
    impl_->end_sessions(true, std::chrono::milliseconds(2000));
  {
    std::lock_guard<std::mutex> lock(impl_->state->post_mutex);
    impl_->state->post_open = false;
  }
  if (impl_->access_timer) asio::post(*impl_->ioc, [timer = impl_->access_timer.get()] { timer->cancel(); });
  impl_->ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->access_timer.reset();
  impl_->threads.clear();
  impl_->acceptor.reset();
  impl_->ioc.reset();  // destroys leftover handlers: their sessions report on_close
  spdlog::info("gateway stopped");
}

}  // namespace tessera::net
