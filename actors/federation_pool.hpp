// A pooled node's planner front ([federation] pool = true; docs/federation.md).
// Everything on the node that talks to "the planner" — worker actors (joins,
// Loaded), request actors (routes, plan changes, parking), the client and
// OpenAI shells — is given this actor instead of the node's own planner. It
// forwards to the current leader's planner (this node's own while it leads),
// reports every local worker again to each new leader, and answers routes
// with "no federation leader reachable" while there is no leader. Included
// by node.cpp only.
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/protocol.hpp"

namespace tessera::actors {

class pool_context;

struct pool_front {
  planner_hdl planner;  // what the node's other actors use as their planner
  caf::actor actor;     // the same actor, for federation_runtime::start (it hears the leader there)
};

// `status_every_ms`: how often it fetches the pool's status from the leader.
pool_front spawn_pool_front(caf::actor_system& sys, std::shared_ptr<pool_context> ctx, uint32_t status_every_ms);

// `status` (/api/status JSON with its "federation" object) with the pool as
// the leader last rendered it: the leader's "ready", "reason", "workers"
// (each with its "node"), "plan" (each stage with its "node") and "replans"
// replace this node's own planner's, and "federation" gets a "pool" object
// (leader, epoch, worker ids per node, stages with their node). While no
// leader answers: "ready" false, reason "no federation leader reachable".
std::string with_pool_status(const std::string& status, const pool_context& ctx);

}  // namespace tessera::actors
