// A fake net::ws_connection for actor tests: records every frame and the close,
// and lets the test wait (bounded) for the n-th frame.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/gateway.hpp"

namespace tessera::testing {

class fake_connection : public net::ws_connection {
public:
  struct frame {
    std::string payload;
    bool binary = false;
  };
  void send_text(std::string payload) override { push({std::move(payload), false}); }
  void send_binary(std::string payload) override { push({std::move(payload), true}); }
  void close(uint16_t code, std::string reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    close_code_ = code;
    close_reason_ = std::move(reason);
    cv_.notify_all();
  }
  std::string remote_endpoint() const override { return "fake:0"; }

  // The n-th frame (0-based), waiting up to `timeout`; nullopt when it never came.
  std::optional<frame> wait_frame(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return frames_.size() > n; }))
      return std::nullopt;
    return frames_[n];
  }
  std::optional<uint16_t> wait_close(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return close_code_.has_value(); }))
      return std::nullopt;
    return close_code_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_.size();
  }
  std::string close_reason() const {
    std::lock_guard<std::mutex> lock(mu_);
    return close_reason_;
  }

private:
  void push(frame f) {
    std::lock_guard<std::mutex> lock(mu_);
    frames_.push_back(std::move(f));
    cv_.notify_all();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<frame> frames_;
  std::optional<uint16_t> close_code_;
  std::string close_reason_;
};

}  // namespace tessera::testing
