// What the planner actor does after a change in the pool, decided in pure code.
//
// The actor describes the pool (numeric worker ids, profiles, the shard each
// worker holds) and what serves now; decide() answers keep / assign_now /
// migrate / infeasible with the plan and a reason in words. substitute() and
// choose_standbys() are the two halves of "who takes over a lost stage". No
// CAF, no I/O, deterministic; tested in tests/planner/planner_decide_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/planner.hpp"

namespace tessera::planner {

// One connected worker. `profile.id` is ignored: decide() names the worker by
// `id` in the plans it returns (std::to_string(id)).
struct pool_worker {
  uint64_t id = 0;
  worker_profile profile;
  std::string shard;  // the shard it was last assigned (serving, loading or standing by); "" none
};

// One stage of a plan the actor runs or ran.
struct placed_stage {
  uint64_t worker = 0;
  layer_range layers;
  std::string shard;  // its shard id ("" where not known)
  friend bool operator==(const placed_stage& a, const placed_stage& b) {
    return a.worker == b.worker && a.layers == b.layers;
  }
};

// What serves now, as far as the choice of the next plan cares.
struct serving_view {
  std::vector<placed_stage> current;      // the plan routes are served from; empty: none
  bool ready = false;                     // every stage of `current` loaded and routes served
  std::vector<placed_stage> last_plan;    // the last feasible plan assigned (kept while the pool is short)
  std::vector<placed_stage> last_served;  // the stages (with shards) of the last plan that served
  std::vector<placed_stage> migrating;    // a better plan loading in the background; empty: none
  std::string change = "first plan";      // what happened since the last decision (starts `why`)
};

struct decide_options {
  planner_options plan;
  // A better plan found while a complete current plan serves is loaded on idle
  // workers first (migrate); false: assigned at once (assign_now).
  bool background_migration = true;
};

enum class decision_kind {
  keep,        // nothing moves (the serving plan is still the one, or the better one is already loading)
  assign_now,  // assign `chosen` to every stage at once; routes wait until all loaded
  migrate,     // bring `chosen` up in the background while `current` serves
  infeasible,  // the pool cannot serve the model: drop the plan, routes unready with `why`
};
const char* to_string(decision_kind kind);

struct decision {
  decision_kind kind = decision_kind::keep;
  plan chosen;                     // the plan to run (infeasible: the best attempt, with its reason)
  std::vector<placed_stage> stages;  // `chosen` by numeric worker id (shard left empty)
  std::string why;                 // for history and logs; infeasible: the reason routes are unready
  std::string abandon;             // non-empty: drop the background migration in flight, for this reason
};

// The next step after a change in the pool:
// - every worker of `current` present: replan() with its stability margin;
// - else the last plan with each lost stage given to a worker (substitute());
// - else a fresh partition over the pool.
// The result is `keep` when it equals `current` (or the migration already in
// flight), `migrate` when `current` is complete and ready and background
// migration is on, else `assign_now`; `infeasible` when no plan fits or the
// pool is empty.
decision decide(const model_profile& model, const std::vector<pool_worker>& pool, const serving_view& serving,
                const decide_options& options);

// Keeps every stage of `last_plan` whose worker is still in the pool and gives
// each orphaned stage (same layer range) to a worker not in the plan: the one
// already holding the shard that served that range (see `last_served`), else
// the smallest that fits, so that big workers stay free. nullopt when a lost
// stage finds no worker or the result does not fit. Stages name workers by
// std::to_string(id); worker_index indexes `pool`.
std::optional<plan> substitute(const model_profile& model, const std::vector<pool_worker>& pool,
                               const std::vector<placed_stage>& last_plan,
                               const std::vector<placed_stage>& last_served, const planner_options& options);

// A worker that should load a serving stage's shard ahead.
struct standby_choice {
  uint64_t worker = 0;
  size_t stage = 0;             // index into `serving`
  bool already_holds = false;   // its shard is that stage's already: nothing to send
};

// Idle workers (in no stage of `serving`) stand by for serving stages, one
// worker per stage: stages served by browser workers first (tabs vanish most),
// then in pipeline order. A stage keeps a worker that already holds its shard;
// otherwise it gets the idle worker with the least memory that fits. Stages for
// which no worker is left get none.
std::vector<standby_choice> choose_standbys(const model_profile& model, const std::vector<pool_worker>& pool,
                                            const std::vector<placed_stage>& serving,
                                            const planner_options& options);

}  // namespace tessera::planner
