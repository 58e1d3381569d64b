// Compiled by ctest, never run: it shows that the typed interfaces of
// actors/protocol.hpp turn a wrong send into a compile error. Built as is it
// must compile (every send below is one the interfaces list); built with
// TESSERA_WRONG_SEND it must not (a request actor does not take an Assign).
#include <caf/event_based_actor.hpp>

#include "actors/messages.hpp"

using namespace tessera::actors;

void listed_sends(caf::event_based_actor* self, request_hdl request, worker_hdl worker, planner_hdl planner) {
  self->send(worker, release_sequence{1});
  self->send(worker, assign_shard{});
  self->send(request, step_failed{});
  self->send(planner, subscribe_atom::value, request);
#ifdef TESSERA_WRONG_SEND
  self->send(request, assign_shard{});
#endif
}
