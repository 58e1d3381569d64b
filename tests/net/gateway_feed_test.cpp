// The gateway's observability routes against fake hooks on 127.0.0.1:0:
// /api/events (Server-Sent Events read with net::sse_client), /api/live,
// /metrics (the runtime's text before the gateway's) and /dashboard.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "net/gateway.hpp"
#include "net/sse_client.hpp"

using namespace tessera::net;
namespace fs = std::filesystem;

namespace {

struct feed_fixture {
  std::mutex m;
  std::string status = "{\"ready\":false}", live = "{\"requests\":[]}";
  fs::path root;
  std::unique_ptr<gateway> gw;
  uint16_t port = 0;

  feed_fixture() {
    std::random_device rd;
    root = fs::temp_directory_path() / ("tessera-feed-test-" + std::to_string(rd()));
    fs::create_directories(root / "dashboard");
    std::ofstream(root / "dashboard" / "index.html") << "<!doctype html><title>dashboard</title>";
    gateway_config cfg;
    cfg.static_dir = root.string();
    gateway_hooks hooks;
    hooks.status_json = [this] {
      std::lock_guard<std::mutex> lock(m);
      return status;
    };
    hooks.live_json = [this] {
      std::lock_guard<std::mutex> lock(m);
      return live;
    };
    hooks.metrics_text = [] { return std::string("# HELP runtime_total R.\n# TYPE runtime_total counter\nruntime_total 5\n"); };
    gw = std::make_unique<gateway>(cfg, hooks);
    port = gw->start();
  }
  ~feed_fixture() {
    gw->stop();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
  void set_status(std::string s) {
    std::lock_guard<std::mutex> lock(m);
    status = std::move(s);
  }
};

constexpr auto kWait = std::chrono::seconds(10);

}  // namespace

TEST_CASE_METHOD(feed_fixture, "/api/events streams the status and live snapshots, and again when they change",
                 "[gateway][events]") {
  sse_client c;
  REQUIRE(c.send("GET", url("/api/events"), "", kWait) == 200);
  CHECK(c.content_type() == "text/event-stream");
  sse_event e;
  REQUIRE(c.next(e, kWait));
  CHECK(e.event == "status");
  CHECK(e.data == "{\"status\":{\"ready\":false},\"live\":{\"requests\":[]}}");
  set_status("{\"ready\":true}");
  do
    REQUIRE(c.next(e, kWait));
  while (e.comment);
  CHECK(e.data == "{\"status\":{\"ready\":true},\"live\":{\"requests\":[]}}");
}

TEST_CASE_METHOD(feed_fixture, "stop() ends an open event stream", "[gateway][events]") {
  sse_client c;
  REQUIRE(c.send("GET", url("/api/events"), "", kWait) == 200);
  sse_event e;
  REQUIRE(c.next(e, kWait));
  gw->stop();  // returns only once every session has ended
  bool more = true;
  CHECK_NOTHROW([&] {
    while (more) more = c.next(e, kWait);
  }());
  CHECK(!more);
}

TEST_CASE_METHOD(feed_fixture, "/metrics gives the runtime's metrics, then the gateway's own", "[gateway][http]") {
  sse_client c;
  REQUIRE(c.send("GET", url("/metrics"), "", kWait) == 200);
  CHECK(c.content_type() == "text/plain; version=0.0.4; charset=utf-8");
  const auto body = c.rest(kWait);
  CHECK(body.rfind("# HELP runtime_total R.\n# TYPE runtime_total counter\nruntime_total 5\n# HELP tessera_gateway_", 0) == 0);
  CHECK(body.find("# TYPE tessera_gateway_ws_open gauge\n") != std::string::npos);
}

TEST_CASE_METHOD(feed_fixture, "/api/live is the live hook's JSON and /dashboard serves dashboard/index.html",
                 "[gateway][http]") {
  sse_client live;
  REQUIRE(live.send("GET", url("/api/live"), "", kWait) == 200);
  CHECK(live.rest(kWait) == "{\"requests\":[]}");
  for (const char* path : {"/dashboard", "/dashboard/"}) {
    sse_client page;
    REQUIRE(page.send("GET", url(path), "", kWait) == 200);
    CHECK(page.content_type() == "text/html; charset=utf-8");
    CHECK(page.rest(kWait) == "<!doctype html><title>dashboard</title>");
  }
}
