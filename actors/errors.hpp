// The Tessera error codes (CAF error category "tessera", see actors/messages.hpp
// for make_error). No CAF here: pure code reports these too.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::actors {

enum class errc : uint8_t {
  none = 0,
  protocol_mismatch,   // worker spoke another protocol version
  malformed_frame,     // undecodable protobuf / JSON
  socket_closed,       // the worker's socket went away
  heartbeat_timeout,   // no frame from the worker for too long
  worker_error,        // the worker reported an Error for a Forward
  no_capacity,         // the pool cannot hold the model
  timeout,             // a request/response ran out of time
  prompt_too_long,     // prompt + max_tokens exceed the context
  bad_request,         // the client's request is invalid
  shutdown,            // the node is stopping
  rate_limit_exceeded, // the client's API key is over one of its limits
  evicted,             // the worker lied (a bad result, a missed step deadline, a false claim)
};
std::string to_string(errc x);

}  // namespace tessera::actors
