// The planner actor's state, shared by its sources: planner_actor.cpp
// (inventory, re-planning, routes, status), planner_migration.cpp (moving to
// a better plan in the background) and planner_standby.cpp (standby workers).
// Internal: included by those only (it pulls in CAF).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/messages.hpp"
#include "actors/node_config.hpp"
#include "actors/plan_view.hpp"
#include "actors/shard_maker.hpp"
#include "actors/stage_drift.hpp"
#include "actors/spawn.hpp"
#include "actors/status_board.hpp"
#include "planner/decide.hpp"

namespace tessera::actors {
class pool_context;
}

namespace tessera::actors::planner_detail {

using clock_type = std::chrono::steady_clock;

struct worker_entry {
  worker_hdl handle;
  worker_info info;
  kv_summary kv;  // the worker actor's KV ledger, as last polled (every second)
  std::string shard;        // the shard last assigned to it
  uint32_t load_epoch = 0;  // bumped with every change of `shard` (the worker drops its KV then)
  std::string loaded_shard;  // the shard it last reported Loaded (a standby verifies steps once it has)
};

struct stage_slot {
  uint64_t worker_id = 0;
  stage_shard shard;
  bool loaded = false;
  bool deferred = false;  // migration: the worker serves the old route; assigned after parking
};

enum class migration_phase { none, loading, parking, switching };

// A better plan being brought up while the current one serves.
struct migration {
  migration_phase phase = migration_phase::none;
  uint32_t version = 0;
  planner::plan plan;
  std::vector<stage_slot> slots;
  std::string why;
  std::vector<caf::actor_addr> waiting;  // subscribers that have not parked yet
  clock_type::time_point started;
};

// A decision waiting for the shard maker to cut its shards.
struct pending_cut {
  uint32_t ticket = 0;
  planner::decision decided;
  uint64_t pool_epoch = 0;  // the pool it was decided on (joins and leaves bump it)
};

struct planner_state {
  node_config cfg;
  std::shared_ptr<status_board> board;
  shard_maker_hdl maker;
  bool model_ok = false;
  std::string model_name;
  planner::model_profile model;
  planner::decide_options dopts;
  link_assumption link;
  std::map<uint64_t, worker_entry> workers;
  uint64_t pool_epoch = 0;
  planner::plan current;
  std::vector<planner::placed_stage> last_plan;  // the last feasible plan assigned (kept while the pool is short)
  std::vector<stage_slot> slots;
  uint32_t version = 0;       // of `current` (the plan routes are served from)
  uint32_t versions = 0;      // plan versions handed out (aborted migrations leave gaps)
  migration next;             // a better plan loading in the background
  std::optional<pending_cut> cutting;
  uint32_t cut_tickets = 0;
  bool replan_after_switch = false;  // a join/leave came while requests were parked
  plan_news news;             // told to every worker when `current` starts serving
  std::vector<stage_slot> served_slots;  // the stages of the last plan that served (news compares to these)
  bool ready = false;
  std::string reason = "starting";
  bool replan_scheduled = false;
  clock_type::time_point replan_due;
  clock_type::time_point started = clock_type::now();
  std::vector<std::string> history;
  std::vector<request_hdl> subscribers;
  std::string last_change = "first plan";  // why the next re-plan happens
  std::optional<stage_drift> drift;        // serving workers' measured changes ([planner] replan_change)
  std::shared_ptr<pool_context> pool;      // null unless [federation] pool = true (planner_pool.cpp)
  static inline const char* name = "tessera.planner";
};

using planner_actor = planner_hdl::stateful_base<planner_state>;

const char* to_string(migration_phase p);

// planner_actor.cpp
void publish(planner_actor* self);
// True when every stage's worker is still in the pool (a plan that may serve).
bool stages_present(const planner_state& st, const std::vector<stage_slot>& slots);
void note_history(planner_state& st, std::string line);
void schedule_replan(planner_actor* self, uint32_t delay_ms);
void set_unready(planner_actor* self, std::string reason);
void send_assign(planner_actor* self, stage_slot& slot, uint32_t version, bool standby = false);
void start_serving(planner_actor* self, bool tell_workers = true);
std::string range_text(const stage_slot& s);
std::vector<stage_slot> slots_for(const planner::decision& d, const std::vector<stage_shard>& made);

// planner_standby.cpp: the pool and serving view decide() reads, and standbys.
std::vector<planner::pool_worker> pool_of(const planner_state& st);
double measured_flops(const planner_state& st, const worker_entry& w);  // 0: not measured yet
link_assumption link_of(const planner_state& st, const worker_entry& w);  // measured, else [planner]'s assumption
std::vector<planner::placed_stage> placed(const std::vector<stage_slot>& slots);
planner::serving_view serving_of(const planner_state& st);
void assign_standbys(planner_actor* self);

// planner_drift.cpp: re-planning when a serving worker's measured speed or link changed.
void rebase_drift(planner_state& st);   // a decision was taken on the pool as it is now
void check_drift(planner_actor* self);  // once a second, after the KV poll
// The serving plan's per-token latency predicted from `pool` as measured now (0: no plan).
double predicted_now_ms(const planner_state& st, const std::vector<planner::pool_worker>& pool);

// planner_pool.cpp: the federation's one pool (every function is a no-op without st.pool).
// Stamps `a` with the epoch this node leads in and makes its shard URLs name
// this node's gateway; false (logged): this node does not lead, send nothing.
bool pool_stamp(const planner_state& st, assign_shard& a, uint64_t worker_id);
uint64_t pool_epoch(const planner_state& st);  // routes' epoch: the one led in, else 0
void pool_check_join(const planner_state& st, const worker_joined& j);  // logs an id in this node's range
std::string pool_status_json(const planner_state& st);  // /api/status of the pool, each worker and stage with its node

// planner_migration.cpp
plan_news make_news(const planner_state& st, uint32_t version, const std::string& why,
                    const std::vector<stage_slot>& before, const std::vector<stage_slot>& after);
void abort_migration(planner_actor* self, const std::string& why);
void check_migration(planner_actor* self);
void switch_deferred(planner_actor* self);  // parking is over (or timed out): serving workers switch
void start_migration(planner_actor* self, const planner::decision& d, std::vector<stage_slot> slots);
void on_parked(planner_actor* self, const caf::actor_addr& who, uint32_t version);

}  // namespace tessera::actors::planner_detail
