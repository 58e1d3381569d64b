// The federation's actors. The gate (published on [federation] listen)
// answers the challenge of actors/federation_auth.hpp and hands an
// authenticated peer's member handle to its own member; it accepts nothing
// else. The member dials the configured peers (through the middleman actor,
// never blocking a scheduler thread), beats to every authenticated peer each
// heartbeat_ms, takes a peer for dead when its link drops (down_msg) or it
// is silent past heartbeat_timeout_ms, and keeps federation_membership (leader,
// epoch) current: the epoch is stored whenever it changes, the view goes to
// the board for /api/status.
#include <chrono>
#include <map>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/federation.hpp"
#include "actors/federation_auth.hpp"
#include "actors/federation_protocol.hpp"
#include "actors/messages.hpp"

namespace tessera::actors {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr size_t max_pending_challenges = 256;
constexpr auto challenge_lifetime = std::chrono::seconds(30);
constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto max_dial_backoff = std::chrono::milliseconds(5000);

// ---- stray messages ------------------------------------------------------------------

// A peer whose process was stopped and resumed may still send what it queued
// before, through handles of a link that is gone by then (CAF can hand such a
// message to another actor of this node). Neither the gate nor the member takes
// it: it is dropped without an answer, since the default answer (an error
// message) would make the stale sender's actor quit; error messages that reach
// the member anyway are logged, never fatal. The link comes back by dialing.
void drop_strays(caf::scheduled_actor* self, const char* who, const std::string& id) {
  self->set_default_handler([who, id](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    spdlog::debug("federation: node={} {} dropped a message it does not take (a stale peer's)", id, who);
    return caf::delegated<caf::message>{};
  });
  self->set_error_handler([who, id](caf::scheduled_actor* s, caf::error& e) {
    spdlog::warn("federation: node={} {} ignored an error message: {}", id, who, s->system().render(e));
  });
}

// ---- the gate ----------------------------------------------------------------------

struct challenge {
  std::string id, address, their_nonce;
  clock_type::time_point since;
};

struct gate_state {
  std::map<std::string, challenge> pending;  // by the nonce this gate sent
  static inline const char* name = "tessera.federation_gate";
};

federation_gate_hdl::behavior_type gate_behavior(federation_gate_hdl::stateful_pointer<gate_state> self,
                                                 federation_config cfg, federation_hdl member) {
  self->link_to(member);  // no gate without its member: peers must never link to a dead one
  drop_strays(self, "gate", cfg.id);
  return {
      [=](fed_hello_atom, std::string id, std::string address, std::string their_nonce) {
        auto& pending = self->state.pending;
        auto now = clock_type::now();
        for (auto it = pending.begin(); it != pending.end();)
          it = now - it->second.since > challenge_lifetime ? pending.erase(it) : std::next(it);
        while (pending.size() >= max_pending_challenges)
          pending.erase(std::min_element(pending.begin(), pending.end(), [](auto& a, auto& b) {
            return a.second.since < b.second.since;
          }));
        auto nonce = make_federation_nonce();
        pending[nonce] = {std::move(id), std::move(address), std::move(their_nonce), now};
        return std::make_tuple(cfg.id, nonce);
      },
      [=](fed_prove_atom, std::string id, std::string nonce, std::string proof,
          caf::actor peer) -> caf::result<std::string, caf::actor> {
        auto it = self->state.pending.find(nonce);
        if (it == self->state.pending.end()) {
          spdlog::warn("federation: refused peer id={}: its proof answers no challenge of this node", id);
          return make_error(errc::bad_request, "federation: unknown or expired challenge");
        }
        auto c = std::move(it->second);
        self->state.pending.erase(it);
        if (c.id != id || !check_federation_proof(cfg.secret, federation_role::dialer, id, nonce, proof)) {
          spdlog::warn("federation: refused peer id={} address={}: wrong proof of the shared secret", c.id, c.address);
          return make_error(errc::bad_request, "federation: wrong proof of the shared secret");
        }
        self->send(member, fed_peer_atom::value, id, c.address, peer);
        return caf::result<std::string, caf::actor>(
            federation_proof(cfg.secret, federation_role::listener, cfg.id, c.their_nonce),
            caf::actor_cast<caf::actor>(member));
      },
  };
}

// ---- the member --------------------------------------------------------------------

struct dial_state {
  bool in_flight = false;
  clock_type::time_point next_try;
  std::chrono::milliseconds backoff{0};
};

struct member_state {
  federation_config cfg;
  std::optional<federation_membership> members;
  std::shared_ptr<federation_board> board;
  std::map<std::string, caf::actor> links;  // authenticated peers' members, by id
  std::map<std::string, std::string> address_of;  // by id
  std::map<std::string, dial_state> dials;  // by configured address
  std::map<std::string, std::string> reached;  // configured address -> the id that answered there
  uint64_t stored_epoch = 0;
  std::string last_leader = "\n";  // logged on the first settle, whatever it is
  // One pool (null without [federation] pool): this node's planner, told to
  // every peer; the peers' planners by id; the pool actor, told the leader's.
  caf::actor planner, pool;
  std::map<std::string, caf::actor> planners;
  std::string told_leader = "\n";
  uint64_t told_epoch = 0;
  caf::actor told_planner;
  static inline const char* name = "tessera.federation";
};

using member_actor = federation_hdl::stateful_pointer<member_state>;

// After anything that may move the leader or the epoch: log, persist, publish.
void settled(member_actor self) {
  auto& st = self->state;
  auto& m = *st.members;
  if (m.leader() != st.last_leader) {
    spdlog::info("federation: node={} leader={} epoch={} (was {})", st.cfg.id,
                 m.leader().empty() ? "none (no majority reachable)" : m.leader(), m.epoch(),
                 st.last_leader.empty() || st.last_leader == "\n" ? "none" : st.last_leader);
    st.last_leader = m.leader();
  }
  if (m.epoch() != st.stored_epoch) {
    try {
      store_federation_epoch(st.cfg.state_dir, m.epoch());
      st.stored_epoch = m.epoch();
    } catch (const std::exception& e) {
      spdlog::error("federation: {}", e.what());
    }
  }
  st.board->set(m.view());
  if (!st.pool)
    return;
  caf::actor leader_planner;
  if (m.leader() == st.cfg.id)
    leader_planner = st.planner;
  else if (auto it = st.planners.find(m.leader()); it != st.planners.end())
    leader_planner = it->second;
  if (m.leader() != st.told_leader || m.epoch() != st.told_epoch || leader_planner != st.told_planner) {
    st.told_leader = m.leader();
    st.told_epoch = m.epoch();
    st.told_planner = leader_planner;
    caf::anon_send(st.pool, pool_leader_atom::value, m.leader(), m.epoch(), leader_planner);
  }
}

// A heartbeat, and with one pool this node's planner handle. The handle goes
// with every beat, not once: the peer hears only members it has linked, and
// the side that checked the other's proof links (and sends) before the dialer
// has read the answer, so a one-off message could arrive unheard.
void beat(member_actor self, const caf::actor& peer) {
  auto& st = self->state;
  auto& m = *st.members;
  auto to = caf::actor_cast<federation_hdl>(peer);
  self->send(to, fed_beat_atom::value, st.cfg.id, m.epoch(), m.issuer(), m.leader());
  if (st.planner)
    self->send(to, fed_planner_atom::value, st.cfg.id, st.planner);
}

void add_link(member_actor self, const std::string& id, const std::string& address, caf::actor peer) {
  auto& st = self->state;
  if (id == st.cfg.id) {
    spdlog::warn("federation: peer at address={} claims this node's own id={}: ignored", address, id);
    return;
  }
  auto it = st.links.find(id);
  if (it == st.links.end() || it->second != peer) {
    if (it != st.links.end())
      self->demonitor(it->second);
    self->monitor(peer);
    st.links[id] = peer;
    spdlog::info("federation: node={} linked to peer id={} address={}", st.cfg.id, id, address);
  }
  st.address_of[id] = address;
  st.members->joined(id, address, clock_type::now());
  beat(self, peer);
  settled(self);
}

// `id` by value: callers may pass a reference into the links map this erases from.
void drop_link(member_actor self, std::string id, const char* why) {
  auto& st = self->state;
  auto it = st.links.find(id);
  if (it == st.links.end())
    return;
  self->demonitor(it->second);
  st.links.erase(it);
  st.planners.erase(id);
  spdlog::warn("federation: node={} lost peer id={} address={}: {}", st.cfg.id, id, st.address_of[id], why);
  st.members->lost(id);
  settled(self);
}

void dial_failed(member_actor self, const std::string& address) {
  auto& d = self->state.dials[address];
  d.in_flight = false;
  d.backoff = std::min(max_dial_backoff, std::max(std::chrono::milliseconds(self->state.cfg.heartbeat_ms), 2 * d.backoff));
  d.next_try = clock_type::now() + d.backoff;
}

// Connect, hello, prove; the peer's member is linked only once its gate's
// proof over our nonce checks out too.
void dial(member_actor self, const federation_address& to) {
  auto address = to.text();
  self->state.dials[address].in_flight = true;
  auto mm = self->home_system().middleman().actor_handle();
  auto timeout = std::chrono::milliseconds(self->state.cfg.heartbeat_timeout_ms);
  self->request(mm, connect_timeout, caf::connect_atom::value, to.host, to.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr)
              return dial_failed(self, address);
            auto gate = caf::actor_cast<federation_gate_hdl>(ptr);
            auto& cfg = self->state.cfg;
            auto nonce = make_federation_nonce();
            self->request(gate, timeout, fed_hello_atom::value, cfg.id, cfg.listen.text(), nonce)
                .then(
                    [=](std::string& id, std::string& gate_nonce) {
                      auto& cfg = self->state.cfg;
                      auto proof = federation_proof(cfg.secret, federation_role::dialer, cfg.id, gate_nonce);
                      self->request(gate, timeout, fed_prove_atom::value, cfg.id, gate_nonce, proof,
                                    caf::actor_cast<caf::actor>(self))
                          .then(
                              [=](std::string& their_proof, caf::actor& peer) {
                                auto& cfg = self->state.cfg;
                                if (!check_federation_proof(cfg.secret, federation_role::listener, id, nonce,
                                                            their_proof)) {
                                  spdlog::warn("federation: refused peer id={} address={}: wrong proof of the shared "
                                               "secret",
                                               id, address);
                                  return dial_failed(self, address);
                                }
                                self->state.dials[address] = dial_state{};
                                self->state.reached[address] = id;
                                add_link(self, id, address, std::move(peer));
                              },
                              [=](caf::error& e) {
                                spdlog::warn("federation: peer id={} address={} refused this node: {}", id, address,
                                             self->system().render(e));
                                dial_failed(self, address);
                              });
                    },
                    [=](caf::error& e) {
                      spdlog::debug("federation: no challenge from address={}: {}", address, self->system().render(e));
                      dial_failed(self, address);
                    });
          },
          [=](caf::error& e) {
            spdlog::debug("federation: cannot reach address={}: {}", address, self->system().render(e));
            dial_failed(self, address);
          });
}

void tick(member_actor self) {
  auto& st = self->state;
  for (auto& [id, peer] : st.links)
    beat(self, peer);
  auto gone = st.members->expire(clock_type::now(), std::chrono::milliseconds(st.cfg.heartbeat_timeout_ms));
  for (auto& id : gone)
    drop_link(self, id, "silent past heartbeat_timeout_ms");
  if (!gone.empty())
    settled(self);
  auto now = clock_type::now();
  for (auto& peer : st.cfg.peers) {
    auto address = peer.text();
    // Linked: a peer claims this address, or the peer that answered here last is linked.
    bool linked = st.links.count(st.reached[address]) > 0;
    for (auto& [id, link] : st.links)
      linked = linked || st.address_of[id] == address;
    auto& d = st.dials[address];
    if (!linked && !d.in_flight && now >= d.next_try)
      dial(self, peer);
  }
  self->delayed_send(self, std::chrono::milliseconds(st.cfg.heartbeat_ms), fed_tick_atom::value);
}

federation_hdl::behavior_type member_behavior(member_actor self, federation_config cfg, uint64_t stored_epoch,
                                              std::shared_ptr<federation_board> board, caf::actor planner,
                                              caf::actor pool) {
  auto& st = self->state;
  st.planner = std::move(planner);
  st.pool = std::move(pool);
  st.stored_epoch = stored_epoch;
  st.board = std::move(board);
  std::vector<std::string> peer_addresses;
  for (auto& p : cfg.peers)
    peer_addresses.push_back(p.text());
  st.members.emplace(cfg.id, cfg.listen.text(), peer_addresses, stored_epoch);
  st.cfg = std::move(cfg);
  settled(self);
  self->set_down_handler([=](caf::down_msg& d) {
    for (auto& [id, peer] : self->state.links)
      if (peer.address() == d.source)
        return drop_link(self, id, "link down");
  });
  drop_strays(self, "member", st.cfg.id);
  self->attach_functor([id = st.cfg.id](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::user_shutdown)
      spdlog::error("federation: node={} member stopped: {}", id, to_string(reason));
  });
  self->send(self, fed_tick_atom::value);
  return {
      [=](fed_peer_atom, std::string& id, std::string& address, caf::actor& peer) {
        add_link(self, id, address, std::move(peer));
      },
      [=](fed_beat_atom, std::string& id, uint64_t epoch, std::string& issuer, std::string& leader) {
        auto& st = self->state;
        auto it = st.links.find(id);
        // Only the authenticated member of that id is heard.
        if (it == st.links.end() || caf::actor_cast<caf::strong_actor_ptr>(it->second) != self->current_sender())
          return;
        st.members->heard(id, epoch, issuer, leader, clock_type::now());
        settled(self);
      },
      [=](fed_planner_atom, std::string& id, caf::actor& planner) {
        auto& st = self->state;
        auto it = st.links.find(id);
        if (it == st.links.end() || caf::actor_cast<caf::strong_actor_ptr>(it->second) != self->current_sender())
          return;
        st.planners[id] = std::move(planner);
        settled(self);
      },
      [=](fed_tick_atom) { tick(self); },
  };
}

}  // namespace

void add_federation_transport(caf::actor_system_config& cfg, const federation_config& fed) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(fed.heartbeat_ms)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(fed.heartbeat_timeout_ms)});
}

struct federation_runtime::actors {
  federation_hdl member;
  federation_gate_hdl gate;
};

std::unique_ptr<federation_runtime> federation_runtime::start(caf::actor_system& sys, const federation_config& fed) {
  return start(sys, fed, nullptr, nullptr, nullptr);
}

std::unique_ptr<federation_runtime> federation_runtime::start(caf::actor_system& sys, const federation_config& fed,
                                                              const caf::actor& planner, const caf::actor& pool,
                                                              std::shared_ptr<federation_board> board) {
  std::unique_ptr<federation_runtime> rt(new federation_runtime());
  if (board)
    rt->board_ = std::move(board);
  auto epoch = load_federation_epoch(fed.state_dir);
  rt->actors_ = std::make_unique<actors>();
  auto& a = *rt->actors_;
  a.member = sys.spawn(member_behavior, fed, epoch, rt->board_, planner, pool);
  a.gate = sys.spawn(gate_behavior, fed, a.member);
  auto port = sys.middleman().publish(a.gate, fed.listen.port, fed.listen.host.c_str(), true);
  if (!port) {
    rt->stop();
    throw std::runtime_error("federation: cannot listen on " + fed.listen.text() + ": " + sys.render(port.error()));
  }
  spdlog::info("federation: node={} listening on {} (peers: {})", fed.id, fed.listen.text(), fed.peers.size());
  return rt;
}

federation_runtime::~federation_runtime() { stop(); }

void federation_runtime::stop() {
  if (!actors_)
    return;
  caf::anon_send_exit(actors_->gate, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(actors_->member, caf::exit_reason::user_shutdown);
  actors_.reset();
}

std::string with_federation_status(const std::string& status, const federation_view& view) {
  auto j = nlohmann::json::parse(status);
  j["federation"] = nlohmann::json::parse(federation_status_json(view));
  return j.dump();
}

}  // namespace tessera::actors
