// The gateway's hard limits against a fake runtime on 127.0.0.1, port 0: the
// WebSocket Origin check, frame limits per route, a slow reader's send queue,
// idle sockets, connections per address and HTTP header/body sizes. Each
// refusal must name the limit it crossed. Waits are bounded, never sleeps.
#include "net/gateway.hpp"
#include "net/ws_client.hpp"
#include "raw_http.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

using namespace tessera::net;
using tessera::net::testing::http_get;
using tessera::net::testing::parse_reply;
using tessera::net::testing::raw_socket;
using namespace std::chrono_literals;

namespace {

// Echoes text frames; "flood N" makes it send N frames of 64 KiB at once.
struct echo : ws_handler {
  ws_connection_ptr conn;
  std::mutex* m;
  std::condition_variable* cv;
  std::vector<std::string>* closes;
  echo(ws_connection_ptr c, std::mutex* m, std::condition_variable* cv, std::vector<std::string>* closes)
      : conn(std::move(c)), m(m), cv(cv), closes(closes) {}
  void on_message(std::string payload, bool) override {
    if (payload.rfind("flood ", 0) == 0) {
      const int n = std::stoi(payload.substr(6));
      for (int i = 0; i < n; ++i) conn->send_text(std::string(64 << 10, 'f'));
    } else {
      conn->send_text("echo:" + payload);
    }
  }
  void on_close(const std::string& reason) override {
    {
      std::lock_guard<std::mutex> lock(*m);
      closes->push_back(reason);
    }
    cv->notify_all();
  }
};

struct limits_fixture {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> closes;
  std::unique_ptr<gateway> gw;
  uint16_t port = 0;

  explicit limits_fixture(const std::function<void(gateway_limits&)>& tune) {
    gateway_config cfg;
    cfg.host = "127.0.0.1";
    cfg.threads = 2;
    tune(cfg.limits);
    gateway_hooks hooks;
    hooks.on_client_socket = hooks.on_worker_socket = [this](ws_connection_ptr c) -> ws_handler_ptr {
      return std::make_shared<echo>(c, &m, &cv, &closes);
    };
    hooks.on_api_call = [](api_call, api_reply_ptr reply) -> http_request_handler_ptr {
      reply->respond(200, "application/json", "{}");
      return nullptr;
    };
    gw = std::make_unique<gateway>(cfg, hooks);
    port = gw->start();
  }
  ~limits_fixture() { gw->stop(); }
  std::string url(const char* path) const { return "ws://127.0.0.1:" + std::to_string(port) + path; }
  std::string wait_close() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, 10s, [&] { return !closes.empty(); });
    return closes.empty() ? std::string("(no close)") : closes.front();
  }
};

std::string upgrade(uint16_t port, const std::string& path, const std::string& extra) {
  raw_socket s(port);
  s.send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n" + extra + "\r\n");
  return s.recv_until("\r\n\r\n");
}

void no_change(gateway_limits&) {}

}  // namespace

TEST_CASE("a WebSocket upgrade from another site's page is refused with 403 naming the origin", "[gateway][limits]") {
  limits_fixture f(no_change);
  for (const char* path : {"/ws/generate", "/ws/worker"}) {
    INFO(path);
    raw_socket s(f.port);
    s.send_all(std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n");
    const auto r = parse_reply(s.recv_until_eof());
    CHECK(r.status == 403);
    CHECK(r.body.find("websocket origin 'http://evil.example' is not allowed") != std::string::npos);
  }
  CHECK(upgrade(f.port, "/ws/generate", "Origin: http://127.0.0.1:" + std::to_string(f.port) + "\r\n").find(" 101 ") !=
        std::string::npos);
  CHECK(upgrade(f.port, "/ws/worker", "Origin: http://localhost:5173\r\n").find(" 101 ") != std::string::npos);
}

TEST_CASE("node.allowed_origins lets a listed site open a WebSocket", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) { l.allowed_origins = {"https://lab.example"}; });
  CHECK(upgrade(f.port, "/ws/generate", "Origin: https://lab.example\r\n").find(" 101 ") != std::string::npos);
  CHECK(upgrade(f.port, "/ws/generate", "Origin: https://other.example\r\n").find(" 403 ") != std::string::npos);
}

TEST_CASE("a client frame over client_frame gets an error frame and a 1009 close naming the limit", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) { l.client_frame_bytes = 1000; });
  ws_client c;
  c.connect(f.url("/ws/generate"));
  c.send_text(std::string(1000, 'a'));  // at the limit: delivered
  REQUIRE(c.read(10s).payload == "echo:" + std::string(1000, 'a'));
  c.send_text(std::string(120 << 10, '['));
  auto r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK(r.payload == R"j({"code":"frame_too_big","error":"frame over 1000 bytes (limits.client_frame)"})j");
  r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1009);
  CHECK(r.close_reason == "frame over 1000 bytes (limits.client_frame)");
  CHECK(f.wait_close().find("frame over 1000 bytes (limits.client_frame)") == 0);
}

TEST_CASE("a reader slower than its send queue is closed with 1008 instead of growing memory", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) { l.client_send_queue_bytes = 256 << 10; });
  ws_client c;
  c.connect(f.url("/ws/generate"));
  // 400 frames of 64 KiB queued in one go: far more than the queue's 256 KiB
  // before the first write can finish, however fast the client reads.
  c.send_text("flood 400");
  ws_read_result r;
  std::size_t frames = 0;
  for (r = c.read(10s); r.what == ws_read_result::kind::message; r = c.read(10s)) ++frames;
  INFO("frames read before the close: " << frames);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK(r.close_reason == "send queue over 262144 bytes (limits.client_send_queue): the peer reads too slowly");
  CHECK(frames < 400);
  CHECK(f.wait_close().find("send queue over 262144 bytes (limits.client_send_queue)") == 0);
}

TEST_CASE("a WebSocket silent past ws_idle_timeout_ms is closed naming the limit, while traffic keeps a socket open", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) { l.ws_idle_timeout_ms = 2000; });
  ws_client idle, talker;
  idle.connect(f.url("/ws/generate"));
  talker.connect(f.url("/ws/worker"));
  // The talker keeps frames flowing for over two idle limits; the idle socket sends nothing.
  // (A limit of 2 s leaves room for a loaded machine's scheduling delays between frames.)
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; std::chrono::steady_clock::now() - start < 4500ms; ++i) {
    talker.send_text("ping " + std::to_string(i));
    REQUIRE(talker.read(5s).payload == "echo:ping " + std::to_string(i));
  }
  CHECK(talker.is_open());
  const auto r = idle.read(15s);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK(r.close_reason == "idle for more than 2000 ms (limits.ws_idle_timeout_ms)");
}

TEST_CASE("connections past connections_per_ip get 429 naming the limit until one closes", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) { l.connections_per_ip = 2; });
  auto a = std::make_unique<raw_socket>(f.port);
  raw_socket b(f.port);
  a->send_all("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");  // both are open and served (404) ...
  b.send_all("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(a->recv_until("\r\n\r\n").find(" 404 ") != std::string::npos);
  CHECK(b.recv_until("\r\n\r\n").find(" 404 ") != std::string::npos);
  const auto refused = http_get(f.port, "/nothing");  // ... so a third is refused
  CHECK(refused.status == 429);
  CHECK(refused.body.find("too many connections from 127.0.0.1: the limit is 2 (limits.connections_per_ip)") !=
        std::string::npos);
  a.reset();  // closing one frees its slot once the server sees the close
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while ((status = http_get(f.port, "/nothing").status) == 429 && std::chrono::steady_clock::now() < deadline) {
  }
  CHECK(status == 404);
}

TEST_CASE("an HTTP body over http_body gets 413 and headers over http_header get 431, naming the limit", "[gateway][limits]") {
  limits_fixture f([](gateway_limits& l) {
    l.http_body_bytes = 1000;
    l.http_header_bytes = 2048;
  });
  {
    raw_socket s(f.port);
    const std::string body(5000, 'x');
    s.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
    const auto r = parse_reply(s.recv_until_eof());
    CHECK(r.status == 413);
    CHECK(r.body.find("request body over 1000 bytes (limits.http_body)") != std::string::npos);
  }
  {
    raw_socket s(f.port);
    s.send_all("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n");
    const auto r = parse_reply(s.recv_until_eof());
    CHECK(r.status == 431);
    CHECK(r.body.find("request headers over 2048 bytes (limits.http_header)") != std::string::npos);
  }
  raw_socket ok(f.port);
  ok.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  CHECK(parse_reply(ok.recv_until_eof()).status == 200);
}
