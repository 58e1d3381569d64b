// The pool front (federation_pool.hpp): one per pooled node, standing in for
// "the planner" on that node. The federation member tells it the leader, the
// epoch and the leader's planner; it forwards worker joins and Loaded,
// subscriptions and parking to that planner, re-reports the node's workers and
// subscribers to every new leader, answers routes through it (refusing a route
// stamped with an epoch older than one seen here), and fetches the pool's
// status from it for /api/status.
#include "actors/federation_pool.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/federation_protocol.hpp"
#include "actors/messages.hpp"
#include "actors/plan_epoch.hpp"
#include "actors/pool_context.hpp"

namespace tessera::actors {

namespace {

constexpr char no_leader[] = "no federation leader reachable";

struct pool_state {
  std::shared_ptr<pool_context> ctx;
  uint32_t status_every_ms = 500;
  std::string leader;
  planner_hdl target;  // the leader's planner (null: no leader, or its planner not heard of yet)
  std::map<uint64_t, worker_joined> workers;  // this node's workers, by id
  std::vector<request_hdl> subscribers;       // this node's requests
  epoch_guard epochs;                         // of leaders heard and routes answered
  static inline const char* name = "tessera.pool_front";
};

using pool_actor = caf::stateful_actor<pool_state>*;

void on_leader(pool_actor self, const std::string& leader, uint64_t epoch, const caf::actor& planner) {
  auto& st = self->state;
  std::string why;
  if (!st.epochs.admit(epoch, why))
    spdlog::warn("pool: node={} leader={} announced at an old epoch: {}", st.ctx->node_id(), leader, why);
  auto next = caf::actor_cast<planner_hdl>(planner);
  st.leader = leader;
  if (next == st.target)
    return;
  st.target = next;
  st.ctx->set_leader_status("");
  if (!next) {
    spdlog::warn("pool: node={} {}{}: requests wait", st.ctx->node_id(), no_leader,
                 leader.empty() ? "" : " (leader " + leader + "'s planner not heard of yet)");
    return;
  }
  spdlog::info("pool: node={} leader={} epoch={}: reporting {} local workers and {} requests", st.ctx->node_id(),
               leader, epoch, st.workers.size(), st.subscribers.size());
  for (auto& [id, j] : st.workers)
    self->send(next, j);
  for (auto& r : st.subscribers)
    self->send(next, subscribe_atom::value, r);
}

caf::result<route_reply> route_of(pool_actor self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<route_reply>();
  if (!st.target) {
    rp.deliver(route_reply{false, {}, no_leader});
    return rp;
  }
  auto leader = st.leader;
  self->request(st.target, std::chrono::seconds(4), get_route_atom::value)
      .then(
          [=](route_reply& r) mutable {
            std::string why;
            if (r.ready && !self->state.epochs.admit(r.path.epoch, why)) {
              spdlog::warn("pool: node={} refused plan v{} of leader={}: {}", self->state.ctx->node_id(),
                           r.path.plan_version, leader, why);
              r = route_reply{false, {}, "stale plan from " + leader + ": " + why};
            }
            rp.deliver(std::move(r));
          },
          [=](caf::error& e) mutable {
            rp.deliver(route_reply{false, {}, "federation leader " + leader + " did not answer: " +
                                                  self->system().render(e)});
          });
  return rp;
}

caf::behavior pool_behavior(pool_actor self, std::shared_ptr<pool_context> ctx, uint32_t status_every_ms) {
  self->state.ctx = std::move(ctx);
  self->state.status_every_ms = status_every_ms;
  self->set_down_handler([=](caf::down_msg& d) {
    auto& st = self->state;
    for (auto it = st.workers.begin(); it != st.workers.end(); ++it)
      if (it->second.worker.address() == d.source) {
        st.workers.erase(it);
        return;
      }
    auto& subs = st.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(), [&](auto& r) { return r.address() == d.source; }), subs.end());
  });
  self->send(self, pool_tick_atom::value);
  return {
      [=](pool_leader_atom, std::string& leader, uint64_t epoch, caf::actor& planner) {
        on_leader(self, leader, epoch, planner);
      },
      [=](worker_joined& j) {
        auto& st = self->state;
        self->monitor(j.worker);
        st.workers[j.info.worker_id] = j;
        if (st.target)
          self->send(st.target, std::move(j));
      },
      [=](shard_loaded& l) {
        if (self->state.target)
          self->send(self->state.target, std::move(l));
      },
      [=](get_route_atom) { return route_of(self); },
      [=](subscribe_atom, request_hdl& who) {
        auto& st = self->state;
        self->monitor(who);
        st.subscribers.push_back(who);
        if (st.target)
          self->send(st.target, subscribe_atom::value, who);
      },
      [=](plan_parked& p) {
        if (self->state.target)
          self->send(self->state.target, std::move(p));
      },
      [=](pool_tick_atom) {
        auto& st = self->state;
        if (st.target) {
          auto asked = st.target;
          self->request(st.target, std::chrono::milliseconds(2 * st.status_every_ms), pool_status_atom::value)
              .then(
                  [=](std::string& json) {
                    if (self->state.target == asked)
                      self->state.ctx->set_leader_status(std::move(json));
                  },
                  [](caf::error&) {});
        }
        self->delayed_send(self, std::chrono::milliseconds(st.status_every_ms), pool_tick_atom::value);
      },
  };
}

}  // namespace

std::string with_pool_status(const std::string& status, const pool_context& ctx) {
  auto j = nlohmann::json::parse(status);
  auto leader = ctx.leader_status();
  if (leader.empty()) {
    j["ready"] = false;
    j["reason"] = no_leader;
    j["federation"]["pool"] = nullptr;
    return j.dump();
  }
  auto p = nlohmann::json::parse(leader);
  nlohmann::json pool = {{"leader", p["pool_leader"]}, {"epoch", p["pool_epoch"]}};
  nlohmann::json per_node = nlohmann::json::object();
  for (auto& w : p["workers"])
    per_node[w["node"].is_string() ? w["node"].get<std::string>() : std::string("?")].push_back(w["id"]);
  pool["workers"] = per_node;
  nlohmann::json stages = nlohmann::json::array();
  if (p.contains("plan") && p["plan"].contains("stages"))
    for (auto& s : p["plan"]["stages"])
      stages.push_back({{"worker", s["worker"]}, {"node", s["node"]}, {"layers", s["layers"]}});
  pool["stages"] = stages;
  p.erase("pool_leader");
  p.erase("pool_epoch");
  j.erase("migration");
  for (auto& [key, value] : p.items())
    j[key] = value;
  j["federation"]["pool"] = pool;
  return j.dump();
}

pool_front spawn_pool_front(caf::actor_system& sys, std::shared_ptr<pool_context> ctx, uint32_t status_every_ms) {
  auto a = sys.spawn(pool_behavior, std::move(ctx), status_every_ms);
  return {caf::actor_cast<planner_hdl>(a), a};
}

}  // namespace tessera::actors
