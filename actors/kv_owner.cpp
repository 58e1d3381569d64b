// kv_owner: the ledger of which sequences keep KV on one worker, and how much.
#include <map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"

namespace tessera::actors {

namespace {

struct kv_state {
  uint64_t worker_id = 0;
  std::map<uint64_t, uint32_t> tokens_by_sequence;
  static inline const char* name = "tessera.kv_owner";
};

kv_hdl::behavior_type kv_owner(kv_hdl::stateful_pointer<kv_state> self, uint64_t worker_id) {
  self->state.worker_id = worker_id;
  return {
      [=](const kv_note& n) { self->state.tokens_by_sequence[n.sequence_id] = n.tokens; },
      [=](const release_sequence& r) { self->state.tokens_by_sequence.erase(r.sequence_id); },
      [=](kv_query_atom) -> kv_summary {
        kv_summary s;
        s.worker_id = self->state.worker_id;
        s.sequences = static_cast<uint32_t>(self->state.tokens_by_sequence.size());
        for (auto& [seq, n] : self->state.tokens_by_sequence)
          s.tokens += n;
        return s;
      },
  };
}

}  // namespace

kv_hdl spawn_kv_owner(caf::actor_system& sys, uint64_t worker_id) {
  return sys.spawn(kv_owner, worker_id);
}

}  // namespace tessera::actors
