// The Tessera actor protocol in one place: every atom, and every actor's typed
// interface (caf::typed_actor), with who sends each message. A send that an
// interface does not list fails to compile. The message structs themselves
// are defined in actors/messages.hpp, which includes this header; include
// that one (this one only forward-declares them).
//
// Self-timers are part of an actor's interface (CAF delivers them like any
// other message); each has its own atom with one meaning.
//
// Included only by actors/*.cpp and tests/actors: it pulls in CAF headers.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace tessera::actors {

// ---- atoms (CAF 0.17: at most 10 characters) ----------------------------------

using get_route_atom = caf::atom_constant<caf::atom("getroute")>;    // request -> planner: the serving route?
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;   // request -> planner: tell me of plan changes
using kv_query_atom = caf::atom_constant<caf::atom("kvquery")>;      // planner -> worker: KV held there?
using stop_atom = caf::atom_constant<caf::atom("stop")>;             // node_runtime -> node actor: shut down
// self-timers
using route_retry_atom = caf::atom_constant<caf::atom("routeretry")>;  // request: ask the planner for a route (again)
using step_deadline_atom = caf::atom_constant<caf::atom("stepdue")>;   // request: step N should have answered by now
using heartbeat_check_atom = caf::atom_constant<caf::atom("hbcheck")>; // worker: Hello / heartbeat overdue?
using replan_atom = caf::atom_constant<caf::atom("replan")>;           // planner: the settle time is over, re-plan
using park_deadline_atom = caf::atom_constant<caf::atom("parkdue")>;   // planner: requests had their time to park
using kv_poll_atom = caf::atom_constant<caf::atom("kvpoll")>;          // planner: poll every worker's KV ledger
using evict_atom = caf::atom_constant<caf::atom("evict")>;            // request -> worker: a spot check found it lying
using cache_poll_atom = caf::atom_constant<caf::atom("cachepoll")>;    // prefix cache: check the plan, publish status, start a rebuild
using pool_status_atom = caf::atom_constant<caf::atom("poolstat")>;    // pool actor -> leader's planner: the pool as JSON

// ---- message structs (defined in actors/messages.hpp) ----------------------------

struct stage_step;
struct step_result;
struct step_failed;
struct relayed_input;
struct release_sequence;
struct ws_frame;
struct ws_closed;
struct worker_joined;
struct assign_shard;
struct shard_loaded;
struct route_reply;
struct plan_changed;
struct plan_pause;
struct plan_parked;
struct plan_news;
struct cut_shards;
struct shards_ready;
struct kv_summary;
struct cache_lookup;
struct cache_match;
struct cache_insert;
struct cache_forget;
struct token_event;   // these four: actors/client_protocol.hpp
struct status_event;
struct done_event;
struct error_event;

// ---- interfaces -------------------------------------------------------------------

// What a socket's proxy actor hears from the gateway (actor_socket_handler).
// Every proxy (worker_hdl, client_hdl) accepts at least this.
using socket_hdl = caf::typed_actor<caf::reacts_to<ws_frame>,    // a frame arrived
                                    caf::reacts_to<ws_closed>>;  // the socket closed

// One prompt from tokenising to its final message (request_actor.cpp).
using request_hdl = caf::typed_actor<
    caf::reacts_to<step_result>,    // last hop's worker: the step's token (or a rebuilt run is done)
    caf::reacts_to<step_failed>,    // a hop's worker: the step is lost
    caf::reacts_to<relayed_input>,  // a hop's worker: copy of a boundary input (stage_step::keep_inputs_hops)
    caf::reacts_to<plan_pause>,     // planner: park at the next token boundary
    caf::reacts_to<plan_changed>,   // planner: a new route serves
    caf::reacts_to<route_retry_atom>,                // itself
    caf::reacts_to<step_deadline_atom, uint32_t>>;   // itself: step number

// The proxy of one worker socket, and the ledger of the KV on it (worker_actor.cpp).
using worker_hdl = caf::typed_actor<
    caf::reacts_to<ws_frame>, caf::reacts_to<ws_closed>,  // its socket
    caf::reacts_to<stage_step>,        // a request (hop 0) or the previous hop's worker actor
    caf::reacts_to<release_sequence>,  // a request that ended
    caf::reacts_to<assign_shard>,      // planner
    caf::reacts_to<plan_news>,         // planner
    caf::reacts_to<evict_atom, std::string>,  // a request whose spot check it failed: the reason
    caf::replies_to<kv_query_atom>::with<kv_summary>,  // planner
    caf::reacts_to<heartbeat_check_atom>>;             // itself

// Worker inventory, plan and routes (planner_actor.cpp).
using planner_hdl = caf::typed_actor<
    caf::reacts_to<worker_joined>,  // worker actor, after a valid Hello
    caf::reacts_to<shard_loaded>,   // worker actor, answering an Assign
    caf::replies_to<get_route_atom>::with<route_reply>,  // request
    caf::reacts_to<subscribe_atom, request_hdl>,         // request
    caf::reacts_to<plan_parked>,                         // request
    caf::reacts_to<replan_atom>,                         // itself
    caf::reacts_to<park_deadline_atom, uint32_t>,        // itself: plan version
    caf::reacts_to<kv_poll_atom>,                        // itself
    caf::replies_to<pool_status_atom>::with<std::string>>;  // a pooled node's pool actor (federation_pool.cpp)

// Cuts stage shards and deletes old cuts (shard_maker_actor.cpp); detached,
// linked to the planner.
using shard_maker_hdl = caf::typed_actor<caf::replies_to<cut_shards>::with<shards_ready>>;  // planner

// The proxy of one /ws/generate socket (client_actor.cpp): the only actor that
// writes to it. Another client shell (HTTP/SSE) would take the same events.
using client_hdl = caf::typed_actor<
    caf::reacts_to<ws_frame>, caf::reacts_to<ws_closed>,  // its socket
    caf::reacts_to<token_event>,   // its running request
    caf::reacts_to<status_event>,  // its running request
    caf::reacts_to<done_event>,    // its running request (then it ends)
    caf::reacts_to<error_event>>;  // its running request (then it ends)

// The orchestrator's prefix cache (prefix_cache_actor.cpp): the index of the
// KV prefixes kept on the workers, per stage, and their background rebuild.
using cache_hdl = caf::typed_actor<
    caf::replies_to<cache_lookup>::with<cache_match>,  // request, before a prefill
    caf::reacts_to<cache_insert>,                      // request: after its prefill, and when it ends kept
    caf::reacts_to<cache_forget>,                      // request (failed, or a fork missed); worker actor (Evicted)
    caf::reacts_to<cache_poll_atom>>;                  // itself

// The root actor that supervises the planner (node.cpp).
using node_hdl = caf::typed_actor<caf::reacts_to<stop_atom>>;  // node_runtime::stop

}  // namespace tessera::actors
