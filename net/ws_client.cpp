// Synchronous WebSocket client (see ws_client.hpp). Each call starts one Beast
// asynchronous operation on a private io_context and runs that context until
// the operation completes or the deadline passes; on a deadline the socket is
// closed, the cancelled operation drains, and the connection counts as gone.
#include "net/ws_client.hpp"

#include "net/gateway_stream.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <functional>
#include <optional>
#include <stdexcept>

namespace tessera::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

using gateway_http::gateway_stream;

struct parsed_url {
  std::string host, port, path;
  bool tls = false;
};

parsed_url parse_ws_url(const std::string& url) {
  parsed_url out;
  std::size_t scheme_len = 0;
  if (url.compare(0, 5, "ws://") == 0) {
    scheme_len = 5;
  } else if (url.compare(0, 6, "wss://") == 0) {
    scheme_len = 6;
    out.tls = true;
  } else {
    throw std::runtime_error("ws_client: unsupported URL '" + url + "' (want ws://host:port/path or wss://...)");
  }
  const std::string rest = url.substr(scheme_len);
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    out.host = authority;
    out.port = out.tls ? "443" : "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);  // [::1]
  if (out.host.empty() || out.port.empty())
    throw std::runtime_error("ws_client: bad host or port in URL '" + url + "'");
  return out;
}

}  // namespace

struct ws_client::impl {
  asio::io_context ioc;
  std::unique_ptr<asio::ssl::context> tls;
  std::optional<websocket::stream<gateway_stream>> ws;
  beast::flat_buffer buffer;
  std::size_t max_message_bytes;
  bool open = false;
  std::string url;

  // Runs one operation to completion or deadline. `start` receives the
  // completion callback to hand to the Beast call.
  beast::error_code run_op(std::chrono::milliseconds timeout,
                           const std::function<void(std::function<void(beast::error_code)>)>& start) {
    bool done = false;
    beast::error_code result;
    start([&](beast::error_code ec) {
      done = true;
      result = ec;
    });
    const auto deadline = clock_type::now() + timeout;
    ioc.restart();
    while (!done) {
      const auto now = clock_type::now();
      if (now >= deadline) break;
      if (ioc.run_one_for(deadline - now) == 0 && ioc.stopped()) break;
    }
    if (!done) {
      drop();
      ioc.restart();
      ioc.run();  // let the cancelled operation finish before `done` goes out of scope
      return asio::error::timed_out;
    }
    return result;
  }

  void drop() {
    open = false;
    if (ws) {
      beast::error_code ec;
      beast::get_lowest_layer(*ws).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(*ws).close();
    }
  }

  void send(const std::string& payload, bool binary, std::chrono::milliseconds timeout) {
    if (!open) throw std::runtime_error("ws_client: send on a closed connection to " + url);
    ws->binary(binary);
    const auto ec = run_op(timeout, [&](auto done) {
      ws->async_write(asio::buffer(payload), [done](beast::error_code e, std::size_t) { done(e); });
    });
    if (ec) {
      drop();
      throw std::runtime_error("ws_client: send to " + url + " failed: " + ec.message());
    }
  }
};

ws_client::ws_client(std::size_t max_message_bytes) : impl_(std::make_unique<impl>()) {
  impl_->max_message_bytes = max_message_bytes;
}

ws_client::~ws_client() {
  if (impl_->open) close(1000, "", std::chrono::milliseconds(500));
}

void ws_client::connect(const std::string& url, std::chrono::milliseconds timeout, const ws_connect_options& options) {
  if (impl_->open) throw std::runtime_error("ws_client: already connected to " + impl_->url);
  const parsed_url parts = parse_ws_url(url);
  impl_->url = url;
  impl_->buffer.clear();
  impl_->ws.reset();
  impl_->tls.reset();
  if (parts.tls) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    beast::error_code ec;
    impl_->tls->set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      impl_->tls->load_verify_file(options.ca_file, ec);
      if (ec) throw std::runtime_error("ws_client: cannot load CA file '" + options.ca_file + "': " + ec.message());
    }
    impl_->tls->set_verify_mode(asio::ssl::verify_peer);
  }
  impl_->ws.emplace(gateway_stream(tcp::socket(impl_->ioc), impl_->tls.get()));
  const auto deadline = clock_type::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()));
  };
  auto fail = [&](const std::string& what, beast::error_code ec) {
    impl_->drop();
    throw std::runtime_error("ws_client: " + what + " " + url + ": " + ec.message());
  };

  tcp::resolver resolver(impl_->ioc);
  tcp::resolver::results_type endpoints;
  auto ec = impl_->run_op(left(), [&](auto done) {
    resolver.async_resolve(parts.host, parts.port, [&endpoints, done](beast::error_code e, tcp::resolver::results_type r) {
      endpoints = std::move(r);
      done(e);
    });
  });
  if (ec) fail("cannot resolve", ec);
  ec = impl_->run_op(left(), [&](auto done) {
    impl_->ws->next_layer().tcp().async_connect(
        endpoints, [done](beast::error_code e, const tcp::endpoint&) { done(e); });
  });
  if (ec) fail("cannot connect to", ec);

  auto& ws = *impl_->ws;
  if (parts.tls) {
    auto& tls = ws.next_layer().tls();
    if (!SSL_set_tlsext_host_name(tls.native_handle(), parts.host.c_str()))
      fail("cannot set the TLS server name for", beast::error_code(static_cast<int>(::ERR_get_error()),
                                                                   asio::error::get_ssl_category()));
    tls.set_verify_callback(asio::ssl::host_name_verification(parts.host));
    ec = impl_->run_op(left(), [&](auto done) {
      tls.async_handshake(asio::ssl::stream_base::client, [done](beast::error_code e) { done(e); });
    });
    if (ec) fail("TLS handshake failed with", ec);
  }
  if (!options.api_key.empty())
    ws.set_option(websocket::stream_base::decorator(
        [key = options.api_key](websocket::request_type& req) { req.set(beast::http::field::authorization, "Bearer " + key); }));
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws.read_message_max(impl_->max_message_bytes);
  ws.auto_fragment(false);
  ec = impl_->run_op(left(), [&](auto done) {
    ws.async_handshake(parts.host + ":" + parts.port, parts.path, [done](beast::error_code e) { done(e); });
  });
  if (ec) fail("handshake failed with", ec);
  impl_->open = true;
}

void ws_client::send_text(const std::string& payload, std::chrono::milliseconds timeout) {
  impl_->send(payload, false, timeout);
}

void ws_client::send_binary(const std::string& payload, std::chrono::milliseconds timeout) {
  impl_->send(payload, true, timeout);
}

ws_read_result ws_client::read(std::chrono::milliseconds timeout) {
  ws_read_result out;
  if (!impl_->open) {
    out.what = ws_read_result::kind::error;
    out.error = "not connected";
    return out;
  }
  auto& ws = *impl_->ws;
  std::size_t bytes = 0;
  const auto ec = impl_->run_op(timeout, [&](auto done) {
    ws.async_read(impl_->buffer, [&bytes, done](beast::error_code e, std::size_t n) {
      bytes = n;
      done(e);
    });
  });
  if (!ec) {
    out.what = ws_read_result::kind::message;
    out.payload = beast::buffers_to_string(impl_->buffer.data());
    out.binary = ws.got_binary();
    impl_->buffer.consume(impl_->buffer.size());
    return out;
  }
  impl_->open = false;
  if (ec == websocket::error::closed) {
    out.what = ws_read_result::kind::closed;
    out.close_code = ws.reason().code;
    out.close_reason = ws.reason().reason.c_str();
  } else if (ec == asio::error::timed_out) {
    out.what = ws_read_result::kind::timeout;
  } else {
    out.what = ws_read_result::kind::error;
    out.error = ec.message();
    impl_->drop();
  }
  return out;
}

void ws_client::close(uint16_t code, const std::string& reason, std::chrono::milliseconds timeout) {
  if (!impl_->open) return;
  auto& ws = *impl_->ws;
  const auto deadline = clock_type::now() + timeout;
  std::string why = reason.substr(0, 123);
  auto ec = impl_->run_op(timeout, [&](auto done) {
    ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), why),
                   [done](beast::error_code e) { done(e); });
  });
  // Read until the server's close frame (or anything else ends the socket).
  while (!ec && impl_->open && clock_type::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    ec = impl_->run_op(left, [&](auto done) {
      ws.async_read(impl_->buffer, [done](beast::error_code e, std::size_t) { done(e); });
    });
    impl_->buffer.consume(impl_->buffer.size());
  }
  impl_->drop();
}

bool ws_client::is_open() const { return impl_->open; }

}  // namespace tessera::net
