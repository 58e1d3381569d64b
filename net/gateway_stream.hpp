// The gateway's byte stream: plain TCP, or TLS over TCP when the gateway has a
// certificate. One type for both keeps one instantiation of every Beast
// operation (http_session, ws_session, api_session use it alike). PRIVATE to
// net/: included by gateway.cpp and gateway_api.cpp only (Beast and OpenSSL inside).
//
// WebSocket teardown (found by ADL from websocket::stream<gateway_stream>):
// TLS sends close_notify first; then both drain the peer's bytes until its FIN.
// Beast 1.81's own TCP teardown stops after one read and closes with unread
// data, which resets the connection and loses our close frame (1009 for an
// oversized message) while the peer is still sending.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace tessera::net::gateway_http {

namespace asio = boost::asio;
namespace beast = boost::beast;

class gateway_stream {
public:
  using executor_type = beast::tcp_stream::executor_type;
  using tls_stream = beast::ssl_stream<beast::tcp_stream>;

  // tls == nullptr: plain TCP.
  gateway_stream(asio::ip::tcp::socket socket, asio::ssl::context* tls) {
    if (tls)
      tls_ = std::make_unique<tls_stream>(beast::tcp_stream(std::move(socket)), *tls);
    else
      plain_.emplace(std::move(socket));
  }
  gateway_stream(gateway_stream&&) = default;
  gateway_stream& operator=(gateway_stream&&) = default;

  bool is_tls() const { return tls_ != nullptr; }
  tls_stream& tls() { return *tls_; }
  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  asio::ip::tcp::socket& socket() { return tcp().socket(); }
  void close() { tcp().close(); }
  // Ends the connection at once: both directions shut down, the socket closed.
  void shutdown_and_close() {
    beast::error_code ec;
    socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    close();
  }
  executor_type get_executor() { return tcp().get_executor(); }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else
      plain_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else
      plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }

private:
  std::optional<beast::tcp_stream> plain_;
  std::unique_ptr<tls_stream> tls_;
};

// Keeps one read pending on a connection whose client sends nothing more;
// when it ends (the client hung up, or the socket was closed) calls on_end().
// `stream` and `buf` must outlive the read (members of the session that
// on_end keeps alive).
template <std::size_t N, class OnEnd>
void watch_for_hangup(gateway_stream& stream, std::array<char, N>& buf, OnEnd on_end) {
  stream.async_read_some(asio::buffer(buf), [&stream, &buf, on_end = std::move(on_end)](beast::error_code ec, std::size_t) mutable {
    if (ec) return on_end();
    watch_for_hangup(stream, buf, std::move(on_end));
  });
}

// Found by ADL from Beast's close_socket (a websocket that failed).
inline void beast_close_socket(gateway_stream& stream) {
  beast::error_code ec;
  stream.socket().close(ec);
}

template <class Handler>
struct drain_op {
  beast::tcp_stream& stream;
  std::shared_ptr<std::array<char, 16 * 1024>> buf;
  std::shared_ptr<Handler> handler;
  void operator()(beast::error_code ec, std::size_t) {
    if (!ec) {
      stream.async_read_some(asio::buffer(*buf), std::move(*this));
      return;
    }
    stream.close();
    (*handler)(ec == asio::error::eof ? beast::error_code{} : ec);
  }
};

// Half-closes the TCP connection and reads until the peer's FIN (at most 2 s).
template <class Handler>
void drain_until_fin(beast::tcp_stream& tcp, std::shared_ptr<Handler> handler) {
  beast::error_code ec;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  tcp.expires_after(std::chrono::seconds(2));  // a peer that never sends FIN
  drain_op<Handler> op{tcp, std::make_shared<std::array<char, 16 * 1024>>(), std::move(handler)};
  tcp.async_read_some(asio::buffer(*op.buf), std::move(op));
}

template <class TeardownHandler>
void async_teardown(beast::role_type, gateway_stream& stream, TeardownHandler&& handler) {
  using handler_t = std::decay_t<TeardownHandler>;
  auto h = std::make_shared<handler_t>(std::forward<TeardownHandler>(handler));
  if (!stream.is_tls()) return drain_until_fin(stream.tcp(), std::move(h));
  stream.tcp().expires_after(std::chrono::seconds(2));
  stream.tls().async_shutdown([&stream, h](beast::error_code) mutable { drain_until_fin(stream.tcp(), std::move(h)); });
}

inline void teardown(beast::role_type, gateway_stream& stream, beast::error_code& ec) {
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  stream.close();
}

// A server TLS context from PEM files; std::runtime_error names the bad file.
std::shared_ptr<asio::ssl::context> make_server_tls_context(const std::string& cert_file, const std::string& key_file);

}  // namespace tessera::net::gateway_http
