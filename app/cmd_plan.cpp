// `tessera plan --model DIR_OR_ONNX --workers workers.json [--objective latency|throughput]
//  [--context N] [--sequences N] [--horizon TOKENS] [--json]`
// Prints the optimal plan (worker, layers, memory used / budget, predicted ms
// per token), the total, and the baselines with ratios. Exit 0 with a plan,
// 1 when no plan fits or an input is bad, 2 for usage errors.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/model_profile.hpp"
#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "app/plan_inputs.hpp"
#include "model/base/model_stats.hpp"
#include "model/graph/graph_inspector.hpp"
#include "planner/planner.hpp"

namespace tessera::app {
namespace {

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

planner::model_profile load_model_profile(const std::string& path) {
  // A .json file is the inspector's stats (`tessera model inspect --json`); anything else goes to the inspector.
  if (ends_with(path, ".json")) return actors::to_model_profile(model::parse_model_stats_json(read_file(path, "model stats"), path));
  return actors::to_model_profile(model::inspect_model(path));
}

std::string layers_text(const planner::layer_range& r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

void print_table(const planner::model_profile& model, const planner::plan& p, const planner::plan& eq,
                 const planner::plan& mp, const planner::planner_options& o) {
  std::printf("plan for %s: %d layers, objective %s, context %llu tokens x %llu sequences\n",
              model.name.empty() ? "model" : model.name.c_str(), model.num_layers(), planner::to_string(o.goal),
              static_cast<unsigned long long>(o.context_tokens), static_cast<unsigned long long>(o.concurrent_sequences));
  std::printf("%-20s %-12s %-26s %12s\n", "worker", "layers", "memory used / budget", "ms/token");
  for (const auto& s : p.stages) {
    const std::string mem = planner::format_bytes(s.memory_bytes) + " / " + planner::format_bytes(s.memory_budget);
    std::printf("%-20s %-12s %-26s %12.3f\n", s.worker_id.c_str(), layers_text(s.layers).c_str(), mem.c_str(),
                s.predicted_ms);
  }
  std::printf("total: %.3f ms/token (%s; sum of stages %.3f ms, slowest stage %.3f ms)\n", p.predicted_ms_per_token,
              o.goal == planner::objective::latency ? "latency = sum of stages" : "throughput = slowest stage",
              p.latency_ms_per_token, p.bottleneck_ms);
  std::printf("baselines:\n");
  for (const auto& [name, b] : {std::pair<const char*, const planner::plan&>{"equal_split", eq},
                                std::pair<const char*, const planner::plan&>{"memory_proportional", mp}}) {
    if (b.feasible)
      std::printf("  %-20s %12.3f ms/token  %.2fx the plan\n", name, b.predicted_ms_per_token,
                  b.predicted_ms_per_token / p.predicted_ms_per_token);
    else
      std::printf("  %-20s does not fit memory: %s\n", name, b.reason.c_str());
  }
}

nlohmann::ordered_json baseline_json(const planner::plan& b, const planner::plan& p) {
  if (!b.feasible) return {{"fits_memory", false}, {"reason", b.reason}};
  return {{"fits_memory", true},
          {"predicted_ms_per_token", b.predicted_ms_per_token},
          {"ratio", b.predicted_ms_per_token / p.predicted_ms_per_token}};
}

}  // namespace

const char* kPlanUsage =
    "usage: tessera plan --model DIR_OR_ONNX_OR_STATS_JSON --workers workers.json\n"
    "                    [--objective latency|throughput] [--context N] [--sequences N]\n"
    "                    [--horizon TOKENS] [--json]\n"
    "  --objective  latency: minimise the sum of stage times (default); throughput: the slowest stage\n"
    "  --context    KV budget per sequence in tokens (default 2048)\n"
    "  --sequences  concurrent sequences whose KV each worker holds (default 1)\n"
    "  --horizon    tokens over which weight downloads are amortised (default 1000; 0 ignores loads)\n"
    "workers.json format: docs/planner.md, example: configs/workers.example.json\n";

int run_plan_command(const arg_list& args) {
  const cli_args a(args, {"--model", "--workers", "--objective", "--context", "--sequences", "--horizon"},
                   {"--json", "--help"});
  if (a.has("--help")) {
    std::fputs(kPlanUsage, stdout);
    return 0;
  }
  if (!a.positionals().empty()) throw usage_error("unexpected argument '" + a.positionals().front() + "'");
  const std::string model_path = a.require("--model");
  const std::string workers_path = a.require("--workers");
  planner::planner_options o;
  const std::string goal = a.get_or("--objective", "latency");
  if (goal == "latency") o.goal = planner::objective::latency;
  else if (goal == "throughput") o.goal = planner::objective::throughput;
  else throw usage_error("--objective must be latency or throughput, got '" + goal + "'");
  const long long context = a.get_int("--context", static_cast<long long>(o.context_tokens));
  if (context <= 0 || context > 100'000'000)
    throw usage_error("--context must be between 1 and 100000000 tokens, got " + std::to_string(context));
  o.context_tokens = static_cast<uint64_t>(context);
  const long long sequences = a.get_int("--sequences", 1);
  if (sequences <= 0 || sequences > 100'000)
    throw usage_error("--sequences must be between 1 and 100000, got " + std::to_string(sequences));
  o.concurrent_sequences = static_cast<uint64_t>(sequences);
  const double horizon = a.get_double("--horizon", o.load_horizon_tokens);
  if (horizon < 0 || !std::isfinite(horizon)) throw usage_error("--horizon must be >= 0 tokens");
  o.load_horizon_tokens = horizon;

  const auto workers = parse_workers_json(read_file(workers_path, "workers file"), workers_path);
  const planner::model_profile model = load_model_profile(model_path);
  check_workers_against_model(workers, model.num_layers(), workers_path);

  const planner::plan p = planner::partition(model, workers, o);
  const planner::plan eq = planner::equal_split(model, workers, o);
  const planner::plan mp = planner::memory_proportional(model, workers, o);

  if (a.has("--json")) {
    nlohmann::ordered_json j;
    j["objective"] = planner::to_string(o.goal);
    j["stages"] = nlohmann::ordered_json::array();
    if (p.feasible) {
      for (const auto& s : p.stages)
        j["stages"].push_back({{"worker", s.worker_id},
                               {"layers", {s.layers.begin, s.layers.end}},
                               {"memory_bytes", s.memory_bytes},
                               {"predicted_ms", s.predicted_ms}});
      j["predicted_ms_per_token"] = p.predicted_ms_per_token;
      j["baselines"] = {{"equal_split", baseline_json(eq, p)}, {"memory_proportional", baseline_json(mp, p)}};
      j["feasible"] = true;
    } else {
      j["feasible"] = false;
      j["reason"] = p.reason;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return p.feasible ? 0 : 1;
  }
  if (!p.feasible) {
    std::fprintf(stderr, "tessera plan: no plan fits: %s\n", p.reason.c_str());
    return 1;
  }
  print_table(model, p, eq, mp, o);
  return 0;
}

}  // namespace tessera::app
