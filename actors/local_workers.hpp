// The headless workers a node starts itself ([[workers.local]] in the config):
// `node webworker/node/worker.mjs --url ws://127.0.0.1:PORT/ws/worker ...`.
// Children die with the node (PR_SET_PDEATHSIG) and are stopped with SIGTERM,
// then SIGKILL after a grace period, and reaped. A child with restart = "always"
// that exits while the node runs is started again with the same arguments (so
// it rejoins with the shards in its cache directory) after a backoff that
// doubles while it keeps dying young (restart_backoff). No CAF here.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/node_config.hpp"

namespace tessera::actors {

// The wait before restart number `quick_deaths` + 1 of a worker that died young:
// initial * 2^quick_deaths, at most `cap`.
std::chrono::milliseconds restart_backoff(unsigned quick_deaths,
                                          std::chrono::milliseconds initial = std::chrono::milliseconds(250),
                                          std::chrono::milliseconds cap = std::chrono::milliseconds(8000));

class local_workers {
public:
  local_workers() = default;
  ~local_workers();
  local_workers(const local_workers&) = delete;
  local_workers& operator=(const local_workers&) = delete;

  // Starts one process per config.local_workers entry. Throws std::runtime_error
  // naming the command when a fork/exec fails.
  void start(const node_config& config, const std::string& worker_url);
  // SIGTERM, wait up to `grace`, SIGKILL, reap; no restart after this. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  std::vector<int> pids() const;
  // Restarts made so far (all children).
  unsigned restarts() const;

private:
  using clock = std::chrono::steady_clock;
  struct child {
    int pid = 0;
    std::string name;
    std::vector<std::string> argv;
    bool restart = false;
    bool exited = false;
    clock::time_point started;
    clock::time_point restart_at;  // when exited and restart: the next start
    unsigned quick_deaths = 0;     // consecutive deaths within young_ of starting
  };
  static int spawn(const child& c);  // the pid; throws naming the command
  void supervise();
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<child> children_;
  bool stopping_ = false;
  unsigned restarts_ = 0;
  std::thread supervisor_;
  static constexpr std::chrono::seconds young_{10};
};

}  // namespace tessera::actors
