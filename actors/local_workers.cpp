#include "actors/local_workers.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tessera::actors {

std::chrono::milliseconds restart_backoff(unsigned quick_deaths, std::chrono::milliseconds initial,
                                          std::chrono::milliseconds cap) {
  auto wait = initial;
  for (unsigned i = 0; i < quick_deaths && wait < cap; ++i)
    wait *= 2;
  return std::min(wait, cap);
}

local_workers::~local_workers() { stop(std::chrono::milliseconds(1000)); }

int local_workers::spawn(const child& c) {
  std::vector<std::string> args = c.argv;
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("cannot fork for local worker '" + c.name + "': " + std::strerror(errno));
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
  return pid;
}

void local_workers::start(const node_config& config, const std::string& worker_url) {
  for (const auto& w : config.local_workers) {
    child c;
    c.name = w.name;
    c.restart = w.restart;
    c.argv = {config.worker_command, config.worker_script, "--url", worker_url,
              "--memory", std::to_string(w.memory_bytes), "--threads",
              std::to_string(w.threads), "--name", w.name, "--cache",
              config.shard_dir + "/worker-cache/" + w.name};
    c.pid = spawn(c);
    c.started = clock::now();
    spdlog::info("local worker name={} pid={} memory={} threads={} restart={}", w.name, c.pid, w.memory_bytes,
                 w.threads, w.restart ? "always" : "never");
    std::lock_guard<std::mutex> lock(mu_);
    children_.push_back(std::move(c));
  }
  if (!children_.empty() && !supervisor_.joinable())
    supervisor_ = std::thread([this] { supervise(); });
}

// Reaps exited children and starts again those due for a restart; polls every
// 100 ms (a child's exit is not a wakeup here), wakes at once on stop().
void local_workers::supervise() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    auto now = clock::now();
    for (auto& c : children_) {
      if (!c.exited) {
        int status = 0;
        if (waitpid(c.pid, &status, WNOHANG) != c.pid)
          continue;
        c.exited = true;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        c.quick_deaths = now - c.started < young_ ? c.quick_deaths + 1 : 0;
        auto wait = restart_backoff(c.quick_deaths == 0 ? 0 : c.quick_deaths - 1);
        c.restart_at = now + wait;
        spdlog::warn("local worker name={} pid={} exited status={}{}", c.name, c.pid, code,
                     c.restart ? " restart_in_ms=" + std::to_string(wait.count()) : std::string(" (restart=never)"));
      } else if (c.restart && now >= c.restart_at) {
        try {
          c.pid = spawn(c);
        } catch (const std::exception& e) {
          ++c.quick_deaths;
          c.restart_at = now + restart_backoff(c.quick_deaths);
          spdlog::error("local worker name={} restart failed: {}", c.name, e.what());
          continue;
        }
        c.exited = false;
        c.started = now;
        ++restarts_;
        spdlog::info("local worker name={} restarted pid={} restarts={}", c.name, c.pid, restarts_);
      }
    }
    wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
  }
}

void local_workers::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable())
    supervisor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : children_)
    if (!c.exited)
      kill(c.pid, SIGTERM);
  auto deadline = clock::now() + grace;
  for (auto& c : children_) {
    while (!c.exited) {
      int status = 0;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.exited = true;
        break;
      }
      if (clock::now() > deadline) {
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

unsigned local_workers::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

}  // namespace tessera::actors
