#include "actors/local_workers.hpp"

#include <csignal>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tessera::actors {

local_workers::~local_workers() { stop(std::chrono::milliseconds(1000)); }

void local_workers::start(const node_config& config, const std::string& worker_url) {
  for (const auto& w : config.local_workers) {
    std::vector<std::string> args = {config.worker_command, config.worker_script, "--url", worker_url,
                                     "--memory", std::to_string(w.memory_bytes), "--threads",
                                     std::to_string(w.threads), "--name", w.name, "--cache",
                                     config.shard_dir + "/worker-cache/" + w.name};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
      throw std::runtime_error("cannot fork for local worker '" + w.name + "': " + std::strerror(errno));
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent)
        _exit(127);
      setpgid(0, 0);  // the terminal's Ctrl-C goes to the node, which stops us
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "tessera: cannot exec '%s': %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    spdlog::info("local worker name={} pid={} memory={} threads={}", w.name, pid, w.memory_bytes, w.threads);
    std::lock_guard<std::mutex> lock(mu_);
    children_.push_back({pid, w.name, false});
  }
  if (!children_.empty() && !reaper_.joinable())
    reaper_ = std::thread([this] { reap_loop(); });
}

void local_workers::reap_loop() {
  while (!stopping_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : children_) {
        if (c.exited)
          continue;
        int status = 0;
        if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
          c.exited = true;
          spdlog::warn("local worker name={} pid={} exited status={}", c.name, c.pid,
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void local_workers::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  if (reaper_.joinable())
    reaper_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : children_)
    if (!c.exited)
      kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& c : children_) {
    while (!c.exited) {
      int status = 0;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.exited = true;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        spdlog::warn("local worker name={} pid={} ignored SIGTERM; killing", c.name, c.pid);
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        c.exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  children_.clear();
}

std::vector<int> local_workers::pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> out;
  for (auto& c : children_)
    if (!c.exited)
      out.push_back(c.pid);
  return out;
}

}  // namespace tessera::actors
