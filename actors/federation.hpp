// A node's place in a federation of orchestrator nodes: the link to its peers
// through CAF's middleman (a published gate that answers the shared-secret
// challenge), heartbeats, who is alive, the leader (lowest id alive, given a majority) and the
// election epoch (persisted in the state dir). Only built when the config
// has a [federation] table; caf/io stays inside federation_actor.cpp.
//
//   system_config: add_federation_transport(cfg, node.federation);
//   auto fed = federation_runtime::start(sys, node.federation);  // listening, dialing
//   fed->view();  fed->stop();
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <caf/fwd.hpp>

#include "actors/federation_config.hpp"
#include "actors/federation_membership.hpp"

namespace tessera::actors {

// Loads CAF's middleman into `cfg` and sets its connection heartbeats from
// `fed` (a hung peer's connection closes after heartbeat_timeout_ms).
void add_federation_transport(caf::actor_system_config& cfg, const federation_config& fed);

// The federation's view as the member actor last published it; read by any thread.
class federation_board {
public:
  void set(federation_view v) {
    std::lock_guard<std::mutex> lock(mu_);
    view_ = std::move(v);
  }
  federation_view get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return view_;
  }

private:
  mutable std::mutex mu_;
  federation_view view_;
};

class federation_runtime {
public:
  // Reads the persisted epoch, spawns the member and its gate, publishes the
  // gate on fed.listen and starts dialing fed.peers. Throws std::runtime_error
  // naming the address or file at fault. `sys` must have had
  // add_federation_transport applied to its config.
  static std::unique_ptr<federation_runtime> start(caf::actor_system& sys, const federation_config& fed);
  // The same for a node of the one pool ([federation] pool = true): `planner`
  // is told to every authenticated peer, `pool` (federation_pool.hpp) is told
  // the leader, the epoch and the leader's planner whenever one of them
  // changes, and the view is published to `board`.
  static std::unique_ptr<federation_runtime> start(caf::actor_system& sys, const federation_config& fed,
                                                   const caf::actor& planner, const caf::actor& pool,
                                                   std::shared_ptr<federation_board> board);
  ~federation_runtime();  // stops
  // Ends the member and the gate (the actor system closes the port when it ends).
  void stop();
  federation_view view() const { return board_->get(); }

private:
  federation_runtime() = default;
  struct actors;
  std::unique_ptr<actors> actors_;
  std::shared_ptr<federation_board> board_ = std::make_shared<federation_board>();
};

// `status` (an /api/status JSON object) with a "federation" member added.
std::string with_federation_status(const std::string& status, const federation_view& view);

}  // namespace tessera::actors
