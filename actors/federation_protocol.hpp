// The federation's atoms and typed interfaces (federation_actor.cpp), beside
// actors/protocol.hpp so that only the federation's sources include them.
// Plain types only in these messages, so there is nothing to register.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace tessera::actors {

using fed_hello_atom = caf::atom_constant<caf::atom("fedhello")>;  // dialer -> gate: id, address, nonce
using fed_prove_atom = caf::atom_constant<caf::atom("fedprove")>;  // dialer -> gate: id, gate's nonce, proof, member
using fed_peer_atom = caf::atom_constant<caf::atom("fedpeer")>;    // gate -> its member: a peer passed the challenge
using fed_beat_atom = caf::atom_constant<caf::atom("fedbeat")>;    // member -> peer member: id, epoch, its issuer, leader
using fed_tick_atom = caf::atom_constant<caf::atom("fedtick")>;    // member itself: beat, expire, dial
// One pool (federation_pool.cpp):
using fed_planner_atom = caf::atom_constant<caf::atom("fedplanner")>;  // member -> peer member: id, its planner
using pool_leader_atom = caf::atom_constant<caf::atom("poolleader")>;  // member -> its pool actor: leader, epoch, planner
using pool_tick_atom = caf::atom_constant<caf::atom("pooltick")>;      // pool actor itself: fetch the pool's status

// The one actor a node publishes to its peers (caf::io::publish): it answers
// the challenge and nothing else; a peer's member handle is only used once
// its proof of the shared secret checked out.
using federation_gate_hdl = caf::typed_actor<
    // -> (own id, own nonce)
    caf::replies_to<fed_hello_atom, std::string, std::string, std::string>::with<std::string, std::string>,
    // -> (proof over the dialer's nonce, own member); an error when the dialer's proof is wrong
    caf::replies_to<fed_prove_atom, std::string, std::string, std::string, caf::actor>::with<std::string, caf::actor>>;

// A node's member of the federation: links to peers, heartbeats, leader and epoch.
using federation_hdl = caf::typed_actor<
    caf::reacts_to<fed_peer_atom, std::string, std::string, caf::actor>,              // its gate: id, address, member
    caf::reacts_to<fed_beat_atom, std::string, uint64_t, std::string, std::string>,  // an authenticated peer's member
    caf::reacts_to<fed_planner_atom, std::string, caf::actor>,  // an authenticated peer's member: its planner
    caf::reacts_to<fed_tick_atom>>;                                                   // itself

}  // namespace tessera::actors
