// decide(): the planner actor's choice after a change in the pool (see
// planner/decide.hpp); substitute() and choose_standbys() are in substitute.cpp.
#include "planner/decide.hpp"

#include <algorithm>

namespace tessera::planner {

const char* to_string(decision_kind kind) {
  switch (kind) {
    case decision_kind::keep: return "keep";
    case decision_kind::assign_now: return "assign_now";
    case decision_kind::migrate: return "migrate";
    case decision_kind::infeasible: return "infeasible";
  }
  return "?";
}

namespace {

std::vector<worker_profile> profiles_of(const std::vector<pool_worker>& pool) {
  std::vector<worker_profile> out;
  out.reserve(pool.size());
  for (const auto& w : pool) {
    out.push_back(w.profile);
    out.back().id = std::to_string(w.id);
  }
  return out;
}

int index_of(const std::vector<pool_worker>& pool, uint64_t id) {
  for (size_t i = 0; i < pool.size(); ++i)
    if (pool[i].id == id)
      return static_cast<int>(i);
  return -1;
}

// `p`'s stages by numeric worker id (worker_index indexes `pool`).
std::vector<placed_stage> placed(const plan& p, const std::vector<pool_worker>& pool) {
  std::vector<placed_stage> out;
  for (const auto& s : p.stages)
    out.push_back({pool.at(static_cast<size_t>(s.worker_index)).id, s.layers, ""});
  return out;
}

}  // namespace

decision decide(const model_profile& model, const std::vector<pool_worker>& pool, const serving_view& serving,
                const decide_options& options) {
  decision d;
  if (pool.empty()) {
    d.kind = decision_kind::infeasible;
    d.why = d.abandon = "no workers connected";
    return d;
  }
  const auto profiles = profiles_of(pool);
  bool all_present = !serving.current.empty();
  plan previous;
  for (const auto& s : serving.current) {
    stage st;
    st.worker_id = std::to_string(s.worker);
    st.worker_index = index_of(pool, s.worker);
    st.layers = s.layers;
    all_present = all_present && st.worker_index >= 0;
    previous.stages.push_back(st);
  }
  if (all_present) {
    auto r = replan(model, profiles, previous, options.plan);
    d.chosen = std::move(r.chosen);
    d.why = serving.change + "; " + r.why;
  } else if (auto sub = substitute(model, pool, serving.last_plan, serving.last_served, options.plan)) {
    d.chosen = std::move(*sub);
    d.why = serving.change + "; lost stages given to idle workers, the others keep their KV";
  } else {
    d.chosen = partition(model, profiles, options.plan);
    d.why = serving.change;
  }
  if (!d.chosen.feasible) {
    d.kind = decision_kind::infeasible;
    d.abandon = "the pool cannot hold the model";
    d.why = "the pool cannot hold the model: " + d.chosen.reason;
    return d;
  }
  d.stages = placed(d.chosen, pool);
  if (!serving.migrating.empty()) {
    if (all_present && d.stages == serving.migrating) {
      d.kind = decision_kind::keep;
      d.why = "the better plan is already loading in the background";
      return d;
    }
    d.abandon = all_present ? "a better plan came up" : "a worker of the serving plan left";
  }
  if (!serving.current.empty() && d.stages == serving.current) {
    d.kind = decision_kind::keep;
    return d;
  }
  d.kind = all_present && serving.ready && options.background_migration ? decision_kind::migrate
                                                                         : decision_kind::assign_now;
  return d;
}

}  // namespace tessera::planner
