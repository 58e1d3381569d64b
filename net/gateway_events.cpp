// The dashboard's feed: GET /api/events as Server-Sent Events on a connection
// of its own. A timer on the session's strand reads the status and live
// snapshots (hooks that return at once) every 250 ms and sends them when they
// changed; a comment line keeps an idle stream alive. At most one write is in
// flight: a slow reader skips snapshots rather than queueing them. A pending
// read notices the client hanging up.
#include "net/gateway_http.hpp"
#include "net/gateway_stream.hpp"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>

namespace tessera::net::gateway_http {

namespace {

using tcp = asio::ip::tcp;
constexpr auto check_period = std::chrono::milliseconds(250);
constexpr int ticks_per_keepalive = 20;  // a comment line after 5 s without news

class events_session final : public session_base, public std::enable_shared_from_this<events_session> {
public:
  events_session(gateway_stream stream, state_ptr state)
      : stream_(std::move(stream)), timer_(stream_.get_executor()), state_(std::move(state)) {}
  ~events_session() override {
    if (id_) state_->remove_session(id_);
  }

  void run() {
    id_ = state_->add_session(weak_from_this());
    stream_.tcp().expires_never();
    send(header_text(200, "text/event-stream", true, 0));
    tick();
    watch_for_hangup(stream_, peer_buf_, [self = shared_from_this()] { self->close(); });
  }

  // The gateway stops: the stream ends properly (last chunk), then the connection.
  void shutdown() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->end(); });
  }

private:
  std::string snapshot() const {
    const auto& hooks = state_->hooks;
    return "{\"status\":" + (hooks.status_json ? hooks.status_json() : std::string("{}")) +
           ",\"live\":" + (hooks.live_json ? hooks.live_json() : std::string("{}")) + "}";
  }

  void tick() {
    if (closed_ || ending_) return;
    if (!writing_) {
      auto now = snapshot();
      if (now != last_) {
        last_ = now;
        quiet_ticks_ = 0;
        send(http_chunk("event: status\ndata: " + now + "\n\n"));
      } else if (++quiet_ticks_ >= ticks_per_keepalive) {
        quiet_ticks_ = 0;
        send(http_chunk(": keep-alive\n\n"));
      }
    }
    timer_.expires_after(check_period);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->tick();
    });
  }

  void send(std::string bytes) {
    if (closed_ || writing_) return;
    out_ = std::move(bytes);
    writing_ = true;
    asio::async_write(stream_, asio::buffer(out_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec || self->ended_) return self->close();
      if (self->ending_) self->end();
    });
  }

  // Writes the last chunk (after the write in flight, if any), then closes.
  void end() {
    if (closed_ || ended_) return;
    ending_ = true;
    timer_.cancel();
    if (writing_) return;  // the write's handler comes back here
    send("0\r\n\r\n");
    ended_ = true;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    stream_.shutdown_and_close();
  }

  gateway_stream stream_;
  asio::steady_timer timer_;
  state_ptr state_;
  std::uint64_t id_ = 0;
  std::string out_, last_;
  int quiet_ticks_ = 0;
  std::array<char, 512> peer_buf_{};
  bool writing_ = false, closed_ = false, ending_ = false, ended_ = false;
};

}  // namespace

void start_events_session(gateway_stream stream, request_t, state_ptr state, std::shared_ptr<void> ip_slot) {
  ++state->metrics.http_requests;
  auto session = std::make_shared<events_session>(std::move(stream), std::move(state));
  session->ip_slot = std::move(ip_slot);
  session->run();
}

}  // namespace tessera::net::gateway_http
