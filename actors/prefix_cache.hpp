// The prefix cache actor's spawn function and options (behaviour in
// actors/prefix_cache_actor.cpp; the index it owns: actors/prefix_index.hpp).
// Included by actors/*.cpp only (pulls in CAF).
#pragma once

#include <memory>

#include "actors/spawn.hpp"
#include "actors/prefix_index.hpp"
#include "actors/prefix_cache_view.hpp"

namespace tessera::actors {

struct prefix_cache_options {
  node_config config;  // [cache] block_tokens and rebuild_top; [model] context; [runtime] step_timeout_ms
  planner_hdl planner;  // polled for the serving route; rebuild requests run through it
  std::shared_ptr<const model::tokenizer> tok;
  std::shared_ptr<status_board> board;  // its counters for /api/status; requests_active gates rebuilds
};

// Ends when the planner does (it monitors it).
cache_hdl spawn_prefix_cache_actor(caf::actor_system& sys, prefix_cache_options opts);

}  // namespace tessera::actors
