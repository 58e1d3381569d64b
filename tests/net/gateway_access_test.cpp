// The gateway with access control, on 127.0.0.1 but configured as a node that
// listens beyond loopback: status, metrics and shards need a key or a join
// token; the worker page stays open; sockets without a credential are closed
// with 1008 and the reason (their hook never runs); a key's socket carries its
// usage meter; a worker socket whose token is revoked is closed.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "net/access_control.hpp"
#include "net/credentials.hpp"
#include "net/gateway.hpp"
#include "net/ws_client.hpp"
#include "raw_http.hpp"

using namespace tessera::net;
using tessera::net::testing::http_get;
namespace fs = std::filesystem;

namespace {

struct quiet_handler : ws_handler {
  void on_message(std::string, bool) override {}
  void on_close(const std::string&) override {}
};

struct access_fixture {
  fs::path root;
  std::string key, token;
  std::mutex m;
  std::condition_variable cv;
  std::vector<ws_connection_ptr> opened;  // every socket a hook was called for
  std::unique_ptr<gateway> gw;
  uint16_t port = 0;

  access_fixture() {
    std::random_device rd;
    root = fs::temp_directory_path() / ("tessera-net-access-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(root / "static" / "browser");
    std::ofstream(root / "static" / "browser" / "index.html") << "<!doctype html><title>worker</title>";
    std::ofstream(root / "shard.onnx") << "weights";
    access_settings s;
    s.keys_file = (root / "keys").string();
    s.tokens_file = (root / "tokens").string();
    s.loopback_only = false;
    key = add_credential(s.keys_file, credential_kind::api_key, "client", {3, 0}).secret;
    token = add_credential(s.tokens_file, credential_kind::join_token, "lab", {}).secret;

    gateway_config cfg;
    cfg.host = "127.0.0.1";
    cfg.static_dir = (root / "static").string();
    cfg.access = std::make_shared<access_control>(s);
    gateway_hooks hooks;
    auto hook = [this](ws_connection_ptr c) -> ws_handler_ptr {
      {
        std::lock_guard<std::mutex> lock(m);
        opened.push_back(c);
      }
      cv.notify_all();
      return std::make_shared<quiet_handler>();
    };
    hooks.on_client_socket = hook;
    hooks.on_worker_socket = hook;
    hooks.status_json = [] { return std::string("{\"ready\":true}"); };
    hooks.find_shard = [this](const std::string& id, const std::string& name) -> std::optional<shard_file> {
      if (id == "s" && name == "shard.onnx") return shard_file{(root / "shard.onnx").string(), "abc"};
      return std::nullopt;
    };
    gw = std::make_unique<gateway>(cfg, hooks);
    port = gw->start();
  }
  ~access_fixture() {
    gw->stop();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string url(const std::string& path) const { return "ws://127.0.0.1:" + std::to_string(port) + path; }
  std::size_t hooks_called() {
    std::lock_guard<std::mutex> lock(m);
    return opened.size();
  }
  // Waits (bounded) until the runtime's hook ran for n sockets.
  bool wait_hooks(std::size_t n) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return opened.size() >= n; });
  }
};

}  // namespace

TEST_CASE_METHOD(access_fixture, "beyond loopback, status, metrics and shards need a key or a join token",
                 "[gateway][auth]") {
  for (const char* path : {"/api/status", "/metrics", "/shards/s/shard.onnx"}) {
    const auto refused = http_get(port, path);
    CHECK(refused.status == 401);
    CHECK(refused.header("www-authenticate").find("Bearer") != std::string::npos);
    CHECK(refused.body.find("invalid_api_key") != std::string::npos);
    CHECK(http_get(port, path, "Authorization: Bearer " + key + "\r\n").status == 200);
    CHECK(http_get(port, std::string(path) + "?token=" + token).status == 200);
    CHECK(http_get(port, path, "Authorization: Bearer tsk_00000000_" + std::string(40, '0') + "\r\n").status == 401);
  }
  CHECK(http_get(port, "/").status == 200);  // the worker page loads without a credential
  const auto models = http_get(port, "/v1/models");
  CHECK(models.status == 401);
  CHECK(models.body.find("\"code\":\"invalid_api_key\"") != std::string::npos);  // OpenAI's shape
}

TEST_CASE_METHOD(access_fixture, "sockets without a credential are closed with 1008 and the reason, unseen by the runtime",
                 "[gateway][auth]") {
  ws_client worker;
  worker.connect(url("/ws/worker"));
  auto r = worker.read(std::chrono::seconds(10));
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK_THAT(r.close_reason, Catch::Contains("missing join token"));

  ws_client client;
  client.connect(url("/ws/generate?key=tsk_00000000_" + std::string(40, '0')));
  r = client.read(std::chrono::seconds(10));
  REQUIRE(r.what == ws_read_result::kind::message);
  CHECK_THAT(r.payload, Catch::Contains("invalid_api_key") && Catch::Contains("invalid API key"));
  r = client.read(std::chrono::seconds(10));
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK(hooks_called() == 0);
}

TEST_CASE_METHOD(access_fixture, "a client socket opened with a key carries that key's usage meter", "[gateway][auth]") {
  ws_client client;
  ws_connect_options options;
  options.api_key = key;
  client.connect(url("/ws/generate"), std::chrono::seconds(10), options);
  REQUIRE(wait_hooks(1));
  std::lock_guard<std::mutex> lock(m);
  REQUIRE(opened[0]->meter());
  CHECK(opened[0]->meter()->key_name() == "client");
}

TEST_CASE_METHOD(access_fixture, "revoking a join token closes its worker's socket with 1008", "[gateway][auth]") {
  ws_client worker;
  worker.connect(url("/ws/worker?token=" + token));
  REQUIRE(wait_hooks(1));
  REQUIRE(revoke_credential((root / "tokens").string(), credential_kind::join_token, "lab"));
  const auto r = worker.read(std::chrono::seconds(10));  // the gateway re-reads the file once a second
  REQUIRE(r.what == ws_read_result::kind::closed);
  CHECK(r.close_code == 1008);
  CHECK(r.close_reason == "join token revoked");
}
