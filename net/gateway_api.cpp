// The API session: one POST /v1/chat/completions or /v1/completions on a
// connection of its own. The runtime answers through api_reply_impl, which
// posts onto the session's strand; the session writes the reply (a whole
// response, or a chunked event stream) in order, then closes the connection.
// A read stays pending the whole time, so a client that hangs up before the
// reply ended is noticed at once and the runtime's handler hears
// on_disconnect exactly once.
#include "net/gateway_http.hpp"
#include "net/gateway_stream.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <deque>
#include <sstream>

namespace tessera::net::gateway_http {

namespace {

using tcp = asio::ip::tcp;

class api_session;

class api_reply_impl final : public api_reply {
public:
  api_reply_impl(std::weak_ptr<api_session> session, state_ptr state)
      : session_(std::move(session)), state_(std::move(state)) {}
  void respond(int status, std::string content_type, std::string body) override;
  void start_stream(int status, std::string content_type) override;
  void write(std::string data) override;
  void end_stream() override;

private:
  template <class Fn>
  void post(Fn fn);
  std::weak_ptr<api_session> session_;
  state_ptr state_;
};

// OpenAI's error shape, for the few errors the gateway answers itself.
std::string api_error_body(const std::string& message, const char* type) {
  return nlohmann::json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class api_session final : public session_base, public std::enable_shared_from_this<api_session> {
public:
  api_session(gateway_stream stream, state_ptr state) : stream_(std::move(stream)), state_(std::move(state)) {}
  ~api_session() override {
    notify_disconnect();
    if (id_) state_->remove_session(id_);
  }

  void run(request_t req, std::shared_ptr<usage_meter> meter) {
    id_ = state_->add_session(weak_from_this());
    stream_.tcp().expires_never();
    api_call call;
    call.meter = std::move(meter);
    const std::string_view target = req.target();
    call.path = std::string(target.substr(0, target.find('?')));
    call.body = std::move(req.body());
    if (state_->hooks.status_json) {
      const auto status = nlohmann::json::parse(state_->hooks.status_json(), nullptr, false);
      if (status.is_object() && status.contains("model") && status["model"].is_object() &&
          status["model"].contains("name") && status["model"]["name"].is_string())
        call.served_model = status["model"]["name"].get<std::string>();
    }
    auto reply = std::make_shared<api_reply_impl>(weak_from_this(), state_);
    if (!state_->hooks.on_api_call) {
      respond(503, "application/json", api_error_body("this node takes no API requests", "server_error"));
    } else {
      // A null handler: the runtime answered at once (an error) and needs no disconnect news.
      try {
        handler_ = state_->hooks.on_api_call(std::move(call), reply);
      } catch (const std::exception& e) {
        spdlog::error("gateway api hook threw path={} error={}", std::string(target), e.what());
        respond(500, "application/json", api_error_body(e.what(), "server_error"));
      }
    }
    watch_for_hangup(stream_, peer_buf_, [self = shared_from_this()] { self->close(); });
  }

  void shutdown() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  // ---- on the strand only ----
  void respond(int status, const std::string& content_type, std::string body) {
    if (started_ || done_) return;
    started_ = done_ = true;
    enqueue(header_text(status, content_type, false, body.size()) + body);
  }
  void start_stream(int status, const std::string& content_type) {
    if (started_ || done_) return;
    started_ = true;
    enqueue(header_text(status, content_type, true, 0));
  }
  void write(const std::string& data) {
    if (!started_ || done_ || data.empty()) return;
    enqueue(http_chunk(data));
  }
  void end_stream() {
    if (!started_ || done_) return;
    done_ = true;
    enqueue("0\r\n\r\n");
  }

private:
  void enqueue(std::string bytes) {
    if (closed_) return;
    queue_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    asio::async_write(stream_, asio::buffer(queue_.front()),
                      beast::bind_front_handler(&api_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec || closed_) {
      queue_.clear();  // only now: the write that ended used its front
      return close();
    }
    queue_.pop_front();
    if (!queue_.empty()) return write_next();
    if (done_) {
      finished_ = true;
      close();
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (!writing_) queue_.clear();  // a write in flight still reads queue_.front()
    stream_.shutdown_and_close();
    notify_disconnect();
  }

  void notify_disconnect() {
    if (finished_ || notified_) return;
    notified_ = true;
    if (auto h = std::move(handler_)) {
      try {
        h->on_disconnect();
      } catch (const std::exception& e) {
        spdlog::error("gateway api on_disconnect threw error={}", e.what());
      }
    }
  }

  gateway_stream stream_;
  state_ptr state_;
  std::uint64_t id_ = 0;
  http_request_handler_ptr handler_;
  std::deque<std::string> queue_;
  std::array<char, 512> peer_buf_{};
  bool started_ = false, done_ = false, writing_ = false, finished_ = false, closed_ = false, notified_ = false;
};

template <class Fn>
void api_reply_impl::post(Fn fn) {
  post_on_strand(*state_, session_, std::move(fn));
}

void api_reply_impl::respond(int status, std::string content_type, std::string body) {
  post([=, b = std::move(body)](api_session& s) mutable { s.respond(status, content_type, std::move(b)); });
}
void api_reply_impl::start_stream(int status, std::string content_type) {
  post([=](api_session& s) { s.start_stream(status, content_type); });
}
void api_reply_impl::write(std::string data) {
  post([d = std::move(data)](api_session& s) { s.write(d); });
}
void api_reply_impl::end_stream() {
  post([](api_session& s) { s.end_stream(); });
}

}  // namespace

std::string header_text(int status, const std::string& content_type, bool chunked, std::size_t length) {
  http::response<http::empty_body> res{static_cast<http::status>(status), 11};
  add_common_headers(res);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(false);
  if (chunked)
    res.chunked(true);
  else
    res.content_length(length);
  std::ostringstream os;
  os << res.base();
  std::string text = os.str();
  if (text.size() < 4 || text.compare(text.size() - 4, 4, "\r\n\r\n") != 0)
    text += "\r\n";
  return text;
}

std::string http_chunk(const std::string& data) {
  std::ostringstream size;
  size << std::hex << data.size();
  return size.str() + "\r\n" + data + "\r\n";
}

bool is_api_path(std::string_view path) { return path == "/v1/chat/completions" || path == "/v1/completions"; }

void start_api_session(gateway_stream stream, request_t req, state_ptr state, std::shared_ptr<usage_meter> meter,
                       std::shared_ptr<void> ip_slot) {
  ++state->metrics.http_requests;
  auto session = std::make_shared<api_session>(std::move(stream), std::move(state));
  session->ip_slot = std::move(ip_slot);
  session->run(std::move(req), std::move(meter));
}

}  // namespace tessera::net::gateway_http
