// The gateway against fake hooks on 127.0.0.1, port 0: HTTP over a raw socket,
// WebSockets through net/ws_client. Events are awaited with condition
// variables (bounded), never with sleeps.
#include "net/gateway.hpp"
#include "net/ws_client.hpp"
#include "raw_http.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace tessera::net;
using tessera::net::testing::http_get;
using tessera::net::testing::http_reply;
using tessera::net::testing::raw_socket;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// What the fake runtime saw.
struct recorder {
  std::mutex m;
  std::condition_variable cv;
  std::vector<ws_connection_ptr> connections;
  std::vector<std::string> close_reasons;
  std::vector<std::string> messages;

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, limit, [&] { return pred(*this); });
  }
  std::size_t closes() {
    std::lock_guard<std::mutex> lock(m);
    return close_reasons.size();
  }
};

// Echoes frames back; a few magic texts make it act.
struct echo_handler : ws_handler {
  ws_connection_ptr conn;
  std::shared_ptr<recorder> rec;
  std::atomic<int> close_calls{0};

  echo_handler(ws_connection_ptr c, std::shared_ptr<recorder> r) : conn(std::move(c)), rec(std::move(r)) {}
  void on_message(std::string payload, bool binary) override {
    {
      std::lock_guard<std::mutex> lock(rec->m);
      rec->messages.push_back(payload);
    }
    rec->cv.notify_all();
    if (payload == "close-policy") {
      conn->close(1008, "policy test");
      conn->send_text("never delivered after close");
    } else if (binary) {
      conn->send_binary(payload);
    } else {
      conn->send_text("echo:" + payload);
    }
  }
  void on_close(const std::string& reason) override {
    ++close_calls;
    {
      std::lock_guard<std::mutex> lock(rec->m);
      rec->close_reasons.push_back(reason);
    }
    rec->cv.notify_all();
  }
};

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

struct gateway_fixture {
  fs::path root;
  std::string shard_bytes;
  std::string big_bytes;  // several 64 KiB body chunks
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  std::vector<std::shared_ptr<echo_handler>> handlers;  // guarded by rec->m
  std::unique_ptr<gateway> gw;
  uint16_t port = 0;

  explicit gateway_fixture(std::size_t max_frame_bytes = 1 << 20, int threads = 2,
                           std::function<void(gateway_limits&)> tune = {}) {
    std::random_device rd;
    root = fs::temp_directory_path() / ("tessera-net-test-" + std::to_string(rd()) + std::to_string(rd()));
    const fs::path static_dir = root / "static";
    write_file(static_dir / "browser" / "index.html", "<!doctype html><title>worker</title>");
    write_file(static_dir / "browser" / "main.mjs", "export const x = 1;");
    write_file(static_dir / "core" / "wire.js", "var y = 2;");
    write_file(static_dir / "browser" / "ort-copy.wasm", std::string("\0asm", 4));
    write_file(static_dir / "browser" / "style.css", "body{}");
    write_file(static_dir / "data.json", "{\"a\":1}");
    write_file(static_dir / "package.json", "{\"name\":\"webworker\"}");
    write_file(static_dir / "node_modules" / "onnxruntime-web" / "dist" / "ort.min.mjs", "export default 'ort';");
    write_file(root / "secret.txt", "TOP SECRET");
    for (int i = 0; i < 1000; ++i) shard_bytes.push_back(static_cast<char>(i % 251));
    write_file(root / "shards" / "s1.onnx", shard_bytes);
    for (int i = 0; i < 300000; ++i) big_bytes.push_back(static_cast<char>((i * 31) % 253));
    write_file(static_dir / "browser" / "big.wasm", big_bytes);

    gateway_config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.static_dir = static_dir.string();
    cfg.limits.worker_frame_bytes = max_frame_bytes;
    cfg.limits.client_frame_bytes = max_frame_bytes;
    if (tune) tune(cfg.limits);
    cfg.threads = threads;
    gateway_hooks hooks;
    auto make_handler = [this](ws_connection_ptr c) -> ws_handler_ptr {
      auto h = std::make_shared<echo_handler>(c, rec);
      {
        std::lock_guard<std::mutex> lock(rec->m);
        rec->connections.push_back(c);
        handlers.push_back(h);
      }
      rec->cv.notify_all();
      return h;
    };
    hooks.on_client_socket = make_handler;
    hooks.on_worker_socket = make_handler;
    hooks.status_json = [] { return std::string("{\"ready\":true,\"model\":{\"name\":\"tiny\"},\"workers\":[]}"); };
    hooks.find_shard = [this](const std::string& id, const std::string& name) -> std::optional<shard_file> {
      if (id == "abc123" && name == "s1.onnx") return shard_file{(root / "shards" / "s1.onnx").string(), "abc123"};
      return std::nullopt;
    };
    gw = std::make_unique<gateway>(cfg, hooks);
    port = gw->start();
  }
  ~gateway_fixture() {
    gw->stop();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string ws_url(const std::string& path) const { return "ws://127.0.0.1:" + std::to_string(port) + path; }
  std::vector<int> close_calls() {
    std::lock_guard<std::mutex> lock(rec->m);
    std::vector<int> out;
    for (auto& h : handlers) out.push_back(h->close_calls.load());
    return out;
  }
};

void check_isolation_headers(const http_reply& r) {
  CHECK(r.header("cross-origin-opener-policy") == "same-origin");
  CHECK(r.header("cross-origin-embedder-policy") == "require-corp");
  CHECK(r.header("cross-origin-resource-policy") == "same-origin");
}

}  // namespace

TEST_CASE_METHOD(gateway_fixture, "GET / serves the worker page with cross-origin isolation headers", "[gateway][http]") {
  REQUIRE(port != 0);
  const auto r = http_get(port, "/");
  CHECK(r.status == 200);
  CHECK(r.body == "<!doctype html><title>worker</title>");
  CHECK(r.header("content-type") == "text/html; charset=utf-8");
  check_isolation_headers(r);
}

TEST_CASE_METHOD(gateway_fixture, "static files carry the right MIME type and the isolation headers", "[gateway][http]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/browser/main.mjs", "application/javascript"}, {"/core/wire.js", "application/javascript"},
      {"/browser/ort-copy.wasm", "application/wasm"},  {"/browser/style.css", "text/css; charset=utf-8"},
      {"/browser/index.html?v=3", "text/html; charset=utf-8"}};
  for (const auto& [target, type] : cases) {
    INFO("target: " << target);
    const auto r = http_get(port, target);
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == type);
    check_isolation_headers(r);
  }
  CHECK(http_get(port, "/browser/main.mjs").body == "export const x = 1;");
}

TEST_CASE_METHOD(gateway_fixture, "only the worker page's own files are served, not the rest of the static dir", "[gateway][http]") {
  for (const char* target : {"/data.json", "/package.json", "/node_modules/onnxruntime-web/dist/ort.min.mjs",
                             "/ort/ort.min.mjs.map", "/ort/../../package.json"}) {
    INFO("target: " << target);
    const auto r = http_get(port, target);
    CHECK((r.status == 404 || r.status == 400));
    CHECK(r.body.find("webworker") == std::string::npos);
    CHECK(r.body.find("export default") == std::string::npos);
  }
}

TEST_CASE_METHOD(gateway_fixture, "/ort/<file> serves onnxruntime-web's dist folder", "[gateway][http]") {
  const auto r = http_get(port, "/ort/ort.min.mjs");
  CHECK(r.status == 200);
  CHECK(r.body == "export default 'ort';");
  CHECK(r.header("content-type") == "application/javascript");
  check_isolation_headers(r);
  CHECK(http_get(port, "/ort/missing.wasm").status == 404);
}

TEST_CASE_METHOD(gateway_fixture, "unknown paths get a JSON 404 that still carries the isolation headers", "[gateway][http]") {
  const auto r = http_get(port, "/no/such/file.js");
  CHECK(r.status == 404);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"error\"") != std::string::npos);
  check_isolation_headers(r);
  CHECK(http_get(port, "/browser").status == 404);  // a directory is not a file
}

TEST_CASE_METHOD(gateway_fixture, "path traversal never reaches a file outside the static root", "[gateway][http]") {
  for (const char* target : {"/../secret.txt", "/%2e%2e/secret.txt", "/browser/../../secret.txt",
                             "/ort/../../../../../secret.txt", "/ort/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
                             "/browser/..%2f..%2fsecret.txt", "/shards/abc123/..%2f..%2fsecret.txt",
                             "/.%2e/secret.txt"}) {
    INFO("target: " << target);
    const auto r = http_get(port, target);
    CHECK((r.status == 400 || r.status == 404));
    CHECK(r.body.find("TOP SECRET") == std::string::npos);
    check_isolation_headers(r);
  }
}

TEST_CASE_METHOD(gateway_fixture, "shards are immutable, tagged by sha256, and revalidate with 304", "[gateway][shards]") {
  const auto r = http_get(port, "/shards/abc123/s1.onnx");
  REQUIRE(r.status == 200);
  CHECK(r.body == shard_bytes);
  CHECK(r.header("etag") == "\"abc123\"");
  CHECK(r.header("cache-control") == "public, max-age=31536000, immutable");
  CHECK(r.header("accept-ranges") == "bytes");
  CHECK(r.header("content-type") == "application/octet-stream");
  check_isolation_headers(r);

  const auto again = http_get(port, "/shards/abc123/s1.onnx", "If-None-Match: \"abc123\"\r\n");
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("etag") == "\"abc123\"");
  check_isolation_headers(again);

  CHECK(http_get(port, "/shards/abc123/s1.onnx", "If-None-Match: \"other\"\r\n").status == 200);
  CHECK(http_get(port, "/shards/nope/s1.onnx").status == 404);
  CHECK(http_get(port, "/shards/abc123").status == 404);

  const auto head = http_get(port, "/shards/abc123/s1.onnx", "", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "1000");
  CHECK(head.body.empty());
}

TEST_CASE_METHOD(gateway_fixture, "shard range requests return 206 slices and 416 when unsatisfiable", "[gateway][shards]") {
  auto r = http_get(port, "/shards/abc123/s1.onnx", "Range: bytes=10-19\r\n");
  REQUIRE(r.status == 206);
  CHECK(r.body == shard_bytes.substr(10, 10));
  CHECK(r.header("content-range") == "bytes 10-19/1000");
  CHECK(r.header("content-length") == "10");
  check_isolation_headers(r);

  r = http_get(port, "/shards/abc123/s1.onnx", "Range: bytes=990-\r\n");
  REQUIRE(r.status == 206);
  CHECK(r.body == shard_bytes.substr(990));
  CHECK(r.header("content-range") == "bytes 990-999/1000");

  r = http_get(port, "/shards/abc123/s1.onnx", "Range: bytes=-5\r\n");
  REQUIRE(r.status == 206);
  CHECK(r.body == shard_bytes.substr(995));

  r = http_get(port, "/shards/abc123/s1.onnx", "Range: bytes=5000-\r\n");
  CHECK(r.status == 416);
  CHECK(r.header("content-range") == "bytes */1000");
  check_isolation_headers(r);

  // If-Range with a stale validator: the whole file.
  r = http_get(port, "/shards/abc123/s1.onnx", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n");
  CHECK(r.status == 200);
  CHECK(r.body.size() == 1000);
}

TEST_CASE_METHOD(gateway_fixture, "large files stream whole and in ranges across chunk boundaries", "[gateway][http]") {
  auto r = http_get(port, "/browser/big.wasm");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-length") == "300000");
  CHECK(r.body == big_bytes);
  r = http_get(port, "/browser/big.wasm", "Range: bytes=65530-200000\r\n");
  REQUIRE(r.status == 206);
  CHECK(r.body == big_bytes.substr(65530, 200000 - 65530 + 1));
  CHECK(r.header("content-range") == "bytes 65530-200000/300000");
}

TEST_CASE_METHOD(gateway_fixture, "/api/status returns the runtime's JSON snapshot", "[gateway][http]") {
  const auto r = http_get(port, "/api/status");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body == "{\"ready\":true,\"model\":{\"name\":\"tiny\"},\"workers\":[]}");
  check_isolation_headers(r);
}

TEST_CASE_METHOD(gateway_fixture, "/v1/models lists the served model by the status snapshot's name", "[gateway][http]") {
  const auto r = http_get(port, "/v1/models");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body == "{\"data\":[{\"id\":\"tiny\",\"object\":\"model\",\"owned_by\":\"tessera\"}],\"object\":\"list\"}");
}

TEST_CASE_METHOD(gateway_fixture, "/metrics counts requests in Prometheus text format", "[gateway][http]") {
  http_get(port, "/");
  const auto r = http_get(port, "/metrics");
  CHECK(r.status == 200);
  CHECK(r.body.find("tessera_gateway_http_requests_total 2") != std::string::npos);
}

TEST_CASE_METHOD(gateway_fixture, "methods other than GET/HEAD get 405 and malformed requests get 400", "[gateway][http]") {
  CHECK(http_get(port, "/", "", "DELETE").status == 405);
  raw_socket s(port);
  s.send_all("THIS IS NOT HTTP\r\n\r\n");
  const std::string raw = s.recv_until_eof();
  REQUIRE(!raw.empty());
  CHECK(tessera::net::testing::parse_reply(raw).status == 400);
}

TEST_CASE_METHOD(gateway_fixture, "a keep-alive connection serves several requests", "[gateway][http]") {
  raw_socket s(port);
  s.send_all("GET /browser/main.mjs HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string first = s.recv_until("export const x = 1;");
  CHECK(first.find("200 OK") != std::string::npos);
  s.send_all("GET /browser/main.mjs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string second = s.recv_until_eof();
  CHECK(second.find("200 OK") != std::string::npos);
}

TEST_CASE_METHOD(gateway_fixture, "text frames on /ws/generate reach the client handler and replies come back", "[gateway][ws]") {
  ws_client c;
  c.connect(ws_url("/ws/generate"));
  c.send_text("{\"prompt\":\"hi\"}");
  const auto r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK_FALSE(r.binary);
  CHECK(r.payload == "echo:{\"prompt\":\"hi\"}");
  REQUIRE(rec->wait([](recorder& x) { return x.connections.size() == 1; }));
  CHECK(rec->connections[0]->remote_endpoint().rfind("127.0.0.1:", 0) == 0);
  c.close();
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == 1; }));
  CHECK(rec->close_reasons[0].find("code=1000") != std::string::npos);
  gw->stop();
  CHECK(close_calls() == std::vector<int>{1});
}

TEST_CASE_METHOD(gateway_fixture, "binary frames on /ws/worker echo byte for byte", "[gateway][ws]") {
  ws_client c;
  c.connect(ws_url("/ws/worker"));
  std::string payload;
  for (int i = 0; i < 70000; ++i) payload.push_back(static_cast<char>(i * 7));
  c.send_binary(payload);
  const auto r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK(r.binary);
  CHECK(r.payload == payload);
}

TEST_CASE_METHOD(gateway_fixture, "a frame over the frame limit closes the socket with 1009 naming the limit", "[gateway][ws]") {
  ws_client c;
  c.connect(ws_url("/ws/worker"));
  c.send_binary(std::string(1000, 'x'));
  REQUIRE(c.read(10s).what == ws_read_result::kind::message);
  try {
    c.send_binary(std::string((1 << 20) + 1, 'y'));
  } catch (const std::exception&) {
    // The server may hang up while the frame is still going out; the close frame is what counts.
  }
  const auto r = c.read(10s);
  INFO("read error: " << r.error);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1009);
  CHECK(r.close_reason == "frame over 1048576 bytes (limits.worker_frame)");
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == 1; }));
  CHECK(rec->close_reasons[0].find("frame over 1048576 bytes") != std::string::npos);
  gw->stop();
  CHECK(close_calls() == std::vector<int>{1});
  std::lock_guard<std::mutex> lock(rec->m);
  CHECK(rec->messages.size() == 1);  // the oversized frame never reached the handler
}

TEST_CASE_METHOD(gateway_fixture, "frames reach the handler with their type and the runtime judges them", "[gateway][ws]") {
  ws_client w, c;
  w.connect(ws_url("/ws/worker"));
  w.send_text("text on the worker socket");
  auto r = w.read(10s);
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK_FALSE(r.binary);
  CHECK(r.payload == "echo:text on the worker socket");
  c.connect(ws_url("/ws/generate"));
  c.send_binary(std::string("\x00\x01", 2));
  r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK(r.binary);
  CHECK(r.payload == std::string("\x00\x01", 2));
}

TEST_CASE_METHOD(gateway_fixture, "the runtime can close a socket with a code and later sends are dropped", "[gateway][ws]") {
  ws_client c;
  c.connect(ws_url("/ws/generate"));
  c.send_text("close-policy");
  const auto r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK(r.close_reason == "policy test");
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == 1; }));
  rec->connections[0]->send_text("after close: ignored");  // must not crash or reopen anything
  gw->stop();
  CHECK(close_calls() == std::vector<int>{1});
}

TEST_CASE_METHOD(gateway_fixture, "a malformed WebSocket frame fails the connection and on_close runs once", "[gateway][ws]") {
  raw_socket s(port);
  s.send_all("GET /ws/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const std::string handshake = s.recv_until("\r\n\r\n");
  REQUIRE(handshake.find("101") != std::string::npos);
  CHECK(handshake.find("Cross-Origin-Embedder-Policy: require-corp") != std::string::npos);
  REQUIRE(rec->wait([](recorder& x) { return x.connections.size() == 1; }));
  s.send_all(std::string("\x81\x02hi", 4));  // unmasked client frame: a protocol error
  const std::string reply = s.recv_until_eof();
  s.shutdown_send();  // the server waits for our FIN before it lets go of the socket
  REQUIRE(reply.size() >= 4);
  CHECK(static_cast<unsigned char>(reply[0]) == 0x88);  // close frame
  CHECK(((static_cast<unsigned char>(reply[2]) << 8) | static_cast<unsigned char>(reply[3])) == 1002);
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == 1; }));
  gw->stop();
  CHECK(close_calls() == std::vector<int>{1});
  std::lock_guard<std::mutex> lock(rec->m);
  CHECK(rec->messages.empty());
}

TEST_CASE_METHOD(gateway_fixture, "sends from many threads all arrive, in order per thread", "[gateway][ws]") {
  ws_client c;
  c.connect(ws_url("/ws/generate"));
  c.send_text("hello");
  REQUIRE(c.read(10s).payload == "echo:hello");
  REQUIRE(rec->wait([](recorder& x) { return x.connections.size() == 1; }));
  auto conn = rec->connections[0];
  constexpr int threads = 4, per_thread = 200;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([conn, t] {
      for (int i = 0; i < per_thread; ++i) conn->send_text(std::to_string(t) + ":" + std::to_string(i));
    });
  for (auto& t : senders) t.join();
  std::vector<int> next(threads, 0);
  for (int n = 0; n < threads * per_thread; ++n) {
    const auto r = c.read(10s);
    REQUIRE(r.what == ws_read_result::kind::message);
    const auto colon = r.payload.find(':');
    const int t = std::stoi(r.payload.substr(0, colon));
    CHECK(std::stoi(r.payload.substr(colon + 1)) == next[t]);
    ++next[t];
  }
  CHECK(next == std::vector<int>(threads, per_thread));
}

TEST_CASE_METHOD(gateway_fixture, "eight clients at once each get their own replies", "[gateway][ws]") {
  constexpr int clients = 8, messages = 50;
  std::vector<std::future<int>> done;
  for (int c = 0; c < clients; ++c)
    done.push_back(std::async(std::launch::async, [this, c] {
      ws_client client;
      client.connect(ws_url("/ws/generate"));
      int good = 0;
      for (int i = 0; i < messages; ++i) {
        const std::string m = std::to_string(c) + "/" + std::to_string(i);
        client.send_text(m);
        const auto r = client.read(10s);
        if (r.what == ws_read_result::kind::message && r.payload == "echo:" + m) ++good;
      }
      client.close();
      return good;
    }));
  for (auto& f : done) CHECK(f.get() == messages);
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == clients; }));
  gw->stop();
  CHECK(close_calls() == std::vector<int>(clients, 1));
}

TEST_CASE_METHOD(gateway_fixture, "stop() with open sockets closes them with 1001 and calls on_close once each", "[gateway][ws]") {
  ws_client a, b;
  a.connect(ws_url("/ws/generate"));
  b.connect(ws_url("/ws/worker"));
  raw_socket idle_http(port);  // an HTTP keep-alive connection that never sends a request
  REQUIRE(rec->wait([](recorder& x) { return x.connections.size() == 2; }));
  auto read_a = std::async(std::launch::async, [&a] { return a.read(10s); });
  auto read_b = std::async(std::launch::async, [&b] { return b.read(10s); });
  gw->stop();
  const auto ra = read_a.get();
  const auto rb = read_b.get();
  CHECK(ra.what == ws_read_result::kind::closed);
  CHECK(ra.close_code == 1001);
  CHECK(rb.what == ws_read_result::kind::closed);
  CHECK(rb.close_code == 1001);
  CHECK(close_calls() == std::vector<int>{1, 1});
  CHECK(idle_http.recv_some().empty());  // the idle HTTP connection was closed too
  CHECK_THROWS(raw_socket(port, 2));   // no longer accepting
}

TEST_CASE_METHOD(gateway_fixture, "a WebSocket upgrade on an unknown path is refused", "[gateway][ws]") {
  ws_client c;
  CHECK_THROWS_WITH(c.connect(ws_url("/ws/nope")), Catch::Contains("/ws/nope"));
  CHECK_FALSE(c.is_open());
}

TEST_CASE("ws_client names the URL when it cannot connect", "[ws_client]") {
  // Bind and release a port so that nothing listens on it.
  uint16_t port = 0;
  {
    gateway g(gateway_config{}, gateway_hooks{});
    port = g.start();
    g.stop();
  }
  ws_client c;
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws/generate";
  CHECK_THROWS_WITH(c.connect(url, 5s), Catch::Contains(url));
  CHECK_THROWS_WITH(c.connect("http://x/"), Catch::Contains("http://x/"));
  CHECK_THROWS(c.send_text("x"));
}

TEST_CASE("start() names the address when it cannot bind", "[gateway]") {
  gateway first(gateway_config{}, gateway_hooks{});
  const uint16_t port = first.start();
  gateway_config cfg;
  cfg.port = port;
  gateway second(cfg, gateway_hooks{});
  CHECK_THROWS_WITH(second.start(), Catch::Contains("127.0.0.1:" + std::to_string(port)));
}

namespace {

// Baseline for the bench: a bare TCP peer on 127.0.0.1 that echoes fixed-size
// messages (echo_bytes > 0) or sends `bulk` and closes.
struct raw_tcp_peer {
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread thread;
  raw_tcp_peer(std::size_t echo_bytes, std::string bulk) {
    listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd, 1) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread = std::thread([this, echo_bytes, bulk = std::move(bulk)] {
      const int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) return;
      if (echo_bytes == 0) {
        for (std::size_t sent = 0; sent < bulk.size();) {
          const auto n = ::send(fd, bulk.data() + sent, bulk.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<std::size_t>(n);
        }
      } else {
        std::string buf(echo_bytes, '\0');
        for (;;) {
          std::size_t got = 0;
          while (got < echo_bytes) {
            const auto n = ::recv(fd, buf.data() + got, echo_bytes - got, 0);
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
          }
          if (got < echo_bytes || ::send(fd, buf.data(), echo_bytes, MSG_NOSIGNAL) <= 0) break;
        }
      }
      ::close(fd);
    });
  }
  ~raw_tcp_peer() {
    thread.join();
    ::close(listen_fd);
  }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// Not a test: `tessera_net_gateway_tests "[.bench]"` prints loopback ratios
// (gateway vs a bare TCP socket, measured in the same run).
TEST_CASE_METHOD(gateway_fixture, "loopback echo round trip and shard download vs bare TCP", "[.bench]") {
  constexpr std::size_t frame_bytes = 4096;  // one fp32 hidden state of a 1024-wide model
  constexpr int rounds = 3000;
  const std::string frame(frame_bytes, 'h');

  double raw_rtt = 0;
  {
    raw_tcp_peer peer(frame_bytes, "");
    raw_socket s(peer.port);
    const auto t = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {
      s.send_all(frame);
      std::size_t got = 0;
      while (got < frame_bytes) {
        const std::string chunk = s.recv_some(frame_bytes - got);
        REQUIRE(!chunk.empty());
        got += chunk.size();
      }
    }
    raw_rtt = seconds_since(t) / rounds;
  }
  double ws_rtt = 0;
  {
    ws_client c;
    c.connect(ws_url("/ws/worker"));
    const auto t = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {
      c.send_binary(frame);
      REQUIRE(c.read(10s).payload.size() == frame_bytes);
    }
    ws_rtt = seconds_since(t) / rounds;
  }

  const std::string shard(64 << 20, 's');
  write_file(root / "shards" / "s1.onnx", shard);
  double raw_s = 0, http_s = 0;
  {
    raw_tcp_peer peer(0, shard);
    raw_socket s(peer.port);
    const auto t = std::chrono::steady_clock::now();
    REQUIRE(s.recv_until_eof().size() == shard.size());
    raw_s = seconds_since(t);
  }
  {
    const auto t = std::chrono::steady_clock::now();
    REQUIRE(http_get(port, "/shards/abc123/s1.onnx").body.size() == shard.size());
    http_s = seconds_since(t);
  }
  std::printf("echo 4 KiB, %d rounds: gateway WebSocket %.1f us vs bare TCP %.1f us per round trip = %.2fx\n", rounds,
              ws_rtt * 1e6, raw_rtt * 1e6, ws_rtt / raw_rtt);
  std::printf("64 MiB download: gateway /shards %.0f MB/s vs bare TCP from memory %.0f MB/s = %.2fx the time\n",
              shard.size() / 1e6 / http_s, shard.size() / 1e6 / raw_s, http_s / raw_s);
}

TEST_CASE("a socket nobody handles is closed with 1013 (try again later)", "[gateway][ws]") {
  gateway g(gateway_config{}, gateway_hooks{});
  const uint16_t port = g.start();
  ws_client c;
  c.connect("ws://127.0.0.1:" + std::to_string(port) + "/ws/worker");
  const auto r = c.read(10s);
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1013);
}

TEST_CASE_METHOD(gateway_fixture, "a client read that times out drops the connection and the server sees it", "[gateway][ws_client]") {
  ws_client c;
  c.connect(ws_url("/ws/generate"));
  const auto r = c.read(50ms);  // the echo handler says nothing unprompted
  CHECK(r.what == ws_read_result::kind::timeout);
  CHECK_FALSE(c.is_open());
  CHECK_THROWS(c.send_text("x"));
  REQUIRE(rec->wait([](recorder& x) { return x.close_reasons.size() == 1; }));
  gw->stop();
  CHECK(close_calls() == std::vector<int>{1});
}
