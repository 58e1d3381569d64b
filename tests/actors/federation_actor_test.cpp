// Federation members in one process, each in its own actor system with its
// own middleman, linked over TCP on 127.0.0.1: they pass the shared-secret
// challenge, agree on the lowest id as leader and one epoch, refuse (and log
// by id and address) a node with the wrong secret, elect the next leader at a
// higher epoch when the leader's system ends, and take the old leader back
// (its epoch read from its state dir) when it restarts.
#include <chrono>
#include <filesystem>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <netinet/in.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/federation.hpp"
#include "actors/messages.hpp"

using namespace tessera::actors;
using namespace std::chrono_literals;

namespace {

// Every log line, for the refusal checks.
class line_sink : public spdlog::sinks::base_sink<std::mutex> {
public:
  bool contains(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_.find(text) != std::string::npos;
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_ += "\n";
  }
  void flush_() override {}

private:
  std::string text_;
};

std::shared_ptr<line_sink> capture_log() {
  auto sink = std::make_shared<line_sink>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  return sink;
}

// A port nothing listens on now, below Linux's ephemeral range (32768 and
// up), so no outgoing connection of this or another test takes it before its
// node publishes there; spread by pid across processes that run at once.
uint16_t free_port() {
  static unsigned next = static_cast<unsigned>(::getpid()) * 97u;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = static_cast<uint16_t>(20000 + (next++ * 7919u) % 12000u);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok)
      return port;
  }
  FAIL("no free port in [20000, 32000)");
  return 0;
}

struct test_system_config : caf::actor_system_config {
  explicit test_system_config(const federation_config& fed) {
    register_message_types(*this);
    set("scheduler.max-threads", 2);
    add_federation_transport(*this, fed);
  }
};

// One node: its own actor system, middleman and federation member.
struct test_node {
  federation_config fed;
  std::unique_ptr<test_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<federation_runtime> rt;

  explicit test_node(federation_config f) : fed(std::move(f)) {
    cfg = std::make_unique<test_system_config>(fed);
    sys = std::make_unique<caf::actor_system>(*cfg);
    rt = federation_runtime::start(*sys, fed);
  }
  ~test_node() { stop(); }
  void stop() {
    if (rt)
      rt->stop();
    rt.reset();
    sys.reset();
  }
  federation_view view() const { return rt->view(); }
  // The node `id` as this one sees it (a default view when it knows none).
  federation_node_view node(const std::string& id) const {
    for (auto& n : view().nodes)
      if (n.id == id)
        return n;
    return {};
  }
};

// Waits (bounded) until `done` holds; fails the test with `what` otherwise.
void wait_until(const std::string& what, const std::function<bool()>& done, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("timed out waiting for " << what);
    std::this_thread::sleep_for(10ms);
  }
}

struct cluster {
  std::filesystem::path dir;
  std::map<std::string, federation_config> configs;

  explicit cluster(const std::vector<std::string>& ids, const std::string& secret = "a-shared-secret-of-the-test") {
    dir = std::filesystem::temp_directory_path() / ("tessera-fed-" + std::to_string(::getpid()) + "-" +
                                                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::vector<federation_address> addresses;
    for (size_t i = 0; i < ids.size(); ++i)
      addresses.push_back({"127.0.0.1", free_port()});
    for (size_t i = 0; i < ids.size(); ++i) {
      federation_config f;
      f.enabled = true;
      f.id = ids[i];
      f.listen = addresses[i];
      for (size_t j = 0; j < ids.size(); ++j)
        if (j != i)
          f.peers.push_back(addresses[j]);
      f.secret = secret;
      f.heartbeat_ms = 50;
      f.heartbeat_timeout_ms = 3000;  // losses here are links that drop; a long limit keeps busy machines from flapping
      f.state_dir = (dir / ids[i]).string();
      configs[ids[i]] = f;
    }
  }
  ~cluster() { std::filesystem::remove_all(dir); }
};

bool agree(const std::vector<test_node*>& nodes, const std::string& leader, size_t alive) {
  auto epoch = nodes[0]->view().epoch;
  for (auto* n : nodes) {
    auto v = n->view();
    size_t up = std::count_if(v.nodes.begin(), v.nodes.end(), [](auto& x) { return x.alive; });
    if (v.leader != leader || v.epoch != epoch || up != alive)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("three nodes with one secret link up and agree on the lowest id as leader at one epoch") {
  auto log = capture_log();
  cluster c({"a", "b", "c"});
  test_node b(c.configs["b"]), c_(c.configs["c"]), a(c.configs["a"]);
  wait_until("a leader agreed by all three", [&] { return agree({&a, &b, &c_}, "a", 3); });
  auto v = b.view();
  REQUIRE(v.nodes.size() == 3);
  CHECK(v.nodes[0].self);
  CHECK(v.nodes[1].id == "a");
  CHECK(v.nodes[1].leader);
  CHECK(v.nodes[1].address == c.configs["a"].listen.text());
  CHECK(v.epoch >= 1);
  CHECK(load_federation_epoch(c.configs["a"].state_dir) == a.view().epoch);
  CHECK_FALSE(log->contains("refused"));
}

TEST_CASE("a node with the wrong secret is refused, and logged by its id and address") {
  auto log = capture_log();
  cluster c({"a", "d"});
  c.configs["d"].secret = "not-the-secret-of-the-others";
  test_node a(c.configs["a"]), d(c.configs["d"]);
  auto d_address = c.configs["d"].listen.text();
  // d dials a (a refuses d's proof); a dials d (d refuses a's proof).
  wait_until("both refusals in the log", [&] {
    return log->contains("refused peer id=d address=" + d_address + ": wrong proof of the shared secret") &&
           log->contains("refused peer id=a address=" + c.configs["a"].listen.text());
  });
  CHECK(a.view().leader.empty());  // one of two configured: no majority
  CHECK(d.view().leader.empty());
  for (auto* n : {&a, &d}) {
    auto v = n->view();
    CHECK(std::count_if(v.nodes.begin(), v.nodes.end(), [](auto& x) { return x.alive; }) == 1);
  }
}

TEST_CASE("the leader's loss elects the next lowest id at a higher epoch, and back it leads again above it") {
  capture_log();
  cluster c({"a", "b", "c"});
  auto a = std::make_unique<test_node>(c.configs["a"]);
  test_node b(c.configs["b"]), c_(c.configs["c"]);
  wait_until("a leader agreed by all three", [&] { return agree({a.get(), &b, &c_}, "a", 3); });
  auto first = b.view().epoch;
  a->stop();
  wait_until("b leader agreed by b and c", [&] { return agree({&b, &c_}, "b", 2); });
  auto second = b.view().epoch;
  CHECK(second > first);
  CHECK(load_federation_epoch(c.configs["b"].state_dir) == second);
  CHECK(b.node("a").id == "a");
  CHECK_FALSE(b.node("a").alive);
  // a restarts from its state dir: it rejoins and, as the lowest id, leads at a new, higher epoch.
  a = std::make_unique<test_node>(c.configs["a"]);
  wait_until("a leader again, agreed by all three", [&] { return agree({a.get(), &b, &c_}, "a", 3); });
  CHECK(a->view().epoch > second);
  CHECK(load_federation_epoch(c.configs["a"].state_dir) == a->view().epoch);
}

TEST_CASE("a follower's loss keeps the leader and the epoch") {
  capture_log();
  cluster c({"a", "b", "c"});
  test_node a(c.configs["a"]), b(c.configs["b"]);
  auto follower = std::make_unique<test_node>(c.configs["c"]);
  wait_until("a leader agreed by all three", [&] { return agree({&a, &b, follower.get()}, "a", 3); });
  auto epoch = a.view().epoch;
  follower->stop();
  wait_until("c dead at a and b", [&] { return agree({&a, &b}, "a", 2); });
  CHECK(a.view().epoch == epoch);
  CHECK(b.view().epoch == epoch);
}
