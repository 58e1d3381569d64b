// A Tessera node: the actor system, the gateway and the local workers of one
// orchestrator process. The CAF-free face of actors/ for app/ (tessera node).
//
//   node_runtime node(config);
//   uint16_t port = node.start();   // model ready, gateway listening, workers started
//   ...                             // serve until a signal
//   node.stop();                    // workers stopped and reaped, sockets closed, actors done
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "actors/node_config.hpp"

namespace tessera::actors {

class node_runtime {
public:
  explicit node_runtime(node_config config);
  ~node_runtime();  // stops if running
  node_runtime(const node_runtime&) = delete;
  node_runtime& operator=(const node_runtime&) = delete;

  // Builds the model when `preset` is set and the model dir is empty, loads the
  // tokenizer, starts the actors, the gateway and the local workers. Returns the
  // bound port (also written to config.port_file when set). Throws on failure
  // with a message naming the file or address at fault.
  uint16_t start();
  // Idempotent; safe after a failed start.
  void stop();
  // The /api/status body.
  std::string status_json() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tessera::actors
