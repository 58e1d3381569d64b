// Supervised local workers (actors/local_workers.hpp) with a stand-in worker:
// a shell script that records its start and exits at once.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/local_workers.hpp"

using namespace tessera::actors;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

struct script_dir {
  fs::path dir;
  script_dir() {
    char tmpl[] = "/tmp/tessera-local-workers-XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir / "worker.sh") << "date +%s%N >> \"" << (dir / "starts").string() << "\"\nexit 3\n";
  }
  ~script_dir() { fs::remove_all(dir); }
  // Start times (ns) written by the stand-in worker so far.
  std::vector<long long> starts() const {
    std::vector<long long> out;
    std::ifstream in(dir / "starts");
    for (long long t; in >> t;)
      out.push_back(t);
    return out;
  }
  node_config config(bool restart) const {
    node_config c;
    c.worker_command = "/bin/sh";
    c.worker_script = (dir / "worker.sh").string();
    c.shard_dir = dir.string();
    local_worker_config w;
    w.name = "w";
    w.memory_bytes = 1000;
    w.restart = restart;
    c.local_workers.push_back(w);
    return c;
  }
};

// Polls `pred` every 10 ms for up to `limit`.
template <class Pred>
bool eventually(Pred pred, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

}  // namespace

TEST_CASE("the restart backoff doubles from its initial wait up to its cap", "[local_workers]") {
  CHECK(restart_backoff(0) == milliseconds(250));
  CHECK(restart_backoff(1) == milliseconds(500));
  CHECK(restart_backoff(3) == milliseconds(2000));
  CHECK(restart_backoff(10) == milliseconds(8000));
  CHECK(restart_backoff(100, milliseconds(10), milliseconds(50)) == milliseconds(50));
}

TEST_CASE("a local worker that keeps dying is restarted, each time after a longer wait", "[local_workers]") {
  script_dir s;
  local_workers workers;
  workers.start(s.config(true), "ws://127.0.0.1:1/ws/worker");
  REQUIRE(eventually([&] { return s.starts().size() >= 3; }, milliseconds(20000)));
  workers.stop(milliseconds(1000));
  auto t = s.starts();
  CHECK(workers.restarts() >= 2);
  auto gap1 = (t[1] - t[0]) / 1000000, gap2 = (t[2] - t[1]) / 1000000;
  CHECK(gap1 >= 250);
  CHECK(gap2 >= 500);
  CHECK(gap2 > gap1);
}

TEST_CASE("a local worker with restart = never stays dead", "[local_workers]") {
  script_dir s;
  local_workers workers;
  workers.start(s.config(false), "ws://127.0.0.1:1/ws/worker");
  REQUIRE(eventually([&] { return workers.pids().empty(); }, milliseconds(10000)));  // exited and reaped
  // four times the first restart's backoff: a restart = always worker would be back by now
  std::this_thread::sleep_for(restart_backoff(0) * 4);
  CHECK(workers.restarts() == 0);
  CHECK(s.starts().size() == 1);
  CHECK(workers.pids().empty());
}
