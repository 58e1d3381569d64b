// The headless workers a node starts itself ([[workers.local]] in the config):
// `node webworker/node/worker.mjs --url ws://127.0.0.1:PORT/ws/worker ...`.
// Children die with the node (PR_SET_PDEATHSIG) and are stopped with SIGTERM,
// then SIGKILL after a grace period, and reaped. No CAF here.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/node_config.hpp"

namespace tessera::actors {

class local_workers {
public:
  local_workers() = default;
  ~local_workers();
  local_workers(const local_workers&) = delete;
  local_workers& operator=(const local_workers&) = delete;

  // Starts one process per config.local_workers entry. Throws std::runtime_error
  // naming the command when a fork/exec fails.
  void start(const node_config& config, const std::string& worker_url);
  // SIGTERM, wait up to `grace`, SIGKILL, reap. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  std::vector<int> pids() const;

private:
  struct child {
    int pid = 0;
    std::string name;
    bool exited = false;
  };
  void reap_loop();
  mutable std::mutex mu_;
  std::vector<child> children_;
  std::atomic<bool> stopping_{false};
  std::thread reaper_;
};

}  // namespace tessera::actors
