// net::ws_handler that turns socket events into actor messages with
// non-blocking sends (the Asio thread never waits on CAF): each frame becomes a
// ws_frame, the close a ws_closed, both to the socket's proxy actor.
#pragma once

#include <caf/send.hpp>

#include "actors/messages.hpp"
#include "net/gateway.hpp"

namespace tessera::actors {

class actor_socket_handler : public net::ws_handler {
public:
  explicit actor_socket_handler(socket_hdl target) : target_(std::move(target)) {}
  void on_message(std::string payload, bool binary) override {
    caf::anon_send(target_, ws_frame{std::move(payload), binary});
  }
  void on_close(const std::string& reason) override { caf::anon_send(target_, ws_closed{reason}); }
  const socket_hdl& target() const { return target_; }

private:
  socket_hdl target_;
};

}  // namespace tessera::actors
