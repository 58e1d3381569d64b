// Tessera planner: which worker serves which contiguous layer range.
//
// A pure library (standard library only; no CAF, ONNX or I/O). Value types in,
// a plan out. The cost model and the DP recurrence are documented in
// docs/planner.md. All functions are deterministic and thread-compatible.
//
//   model_profile  per-layer bytes / FLOPs / KV / boundary sizes (from the inspector)
//   worker_profile one worker's memory, speed, link and cached weights
//   cost_model     predicts per-token stage latency, memory need and load time
//   partition      the optimal ordered partition (latency or throughput objective)
//   replan         partition + stability margin against the current plan
//   equal_split / memory_proportional   baselines for comparison
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::planner {

// Half-open layer range [begin, end).
struct layer_range {
  int begin = 0;
  int end = 0;
  int size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  friend bool operator==(const layer_range& a, const layer_range& b) {
    return a.begin == b.begin && a.end == b.end;
  }
  friend bool operator!=(const layer_range& a, const layer_range& b) { return !(a == b); }
};

enum class device_kind { unknown, phone, laptop, desktop_gpu, server_gpu, browser, server_cpu };
const char* to_string(device_kind kind);
// Parses "phone", "laptop", ...; returns false for an unknown name.
bool parse_device_kind(const std::string& text, device_kind& out);

struct worker_profile {
  std::string id;
  uint64_t memory_bytes = 0;         // budget for weights + KV + scratch
  double flops_per_s = 0;            // sustained decode FLOP/s
  double measured_layer_ms = 0;      // > 0: measured ms per average layer per token (overrides flops_per_s)
  double rtt_ms = 0;                 // round trip to the orchestrator
  double upload_bytes_per_s = 0;     // worker -> orchestrator
  double download_bytes_per_s = 0;   // orchestrator -> worker (also used for weight loads)
  // Layers whose weights the worker already holds. A cached range that starts
  // at layer 0 also holds the embedding; one that ends at the last layer holds the head.
  std::vector<layer_range> cached_layers;
  std::vector<std::string> cached_shards;  // content ids (informational)
  device_kind kind = device_kind::unknown;
};

struct layer_profile {
  uint64_t param_bytes = 0;
  uint64_t flops_per_token = 0;
  uint64_t kv_bytes_per_token = 0;        // per cached token of one sequence
  uint64_t boundary_bytes_per_token = 0;  // bytes leaving this layer (into the next)
  friend bool operator==(const layer_profile& a, const layer_profile& b) {
    return a.param_bytes == b.param_bytes && a.flops_per_token == b.flops_per_token &&
           a.kv_bytes_per_token == b.kv_bytes_per_token &&
           a.boundary_bytes_per_token == b.boundary_bytes_per_token;
  }
};

struct model_profile {
  std::string name;
  std::vector<layer_profile> layers;
  uint64_t embed_param_bytes = 0;    // held by the first stage
  uint64_t head_param_bytes = 0;     // held by the last stage
  uint64_t prelude_param_bytes = 0;  // held by every stage (mask / rotary tables)
  uint64_t embed_flops_per_token = 0;
  uint64_t head_flops_per_token = 0;
  uint64_t hidden_bytes_per_token = 0;  // boundary into layer 0 (informational)
  uint64_t token_bytes = 8;             // an int64 token id: pipeline input and output
  int num_layers() const { return static_cast<int>(layers.size()); }
};

enum class objective { latency, throughput };
const char* to_string(objective goal);

struct planner_options {
  objective goal = objective::latency;
  uint64_t context_tokens = 2048;       // KV budget per sequence
  uint64_t concurrent_sequences = 1;    // sequences whose KV lives on a worker at once
  uint64_t scratch_bytes = 64ull << 20; // activations / runtime overhead per stage
  double load_horizon_tokens = 1000;    // load time is amortised over this many tokens; 0 = ignore loads
  double stability_margin = 0.10;       // replan keeps the current plan unless the new one is this much better
};

// Per-token predictions for one stage. Pure arithmetic over the profiles;
// formulas in docs/planner.md.
class cost_model {
public:
  cost_model(const model_profile& model, const planner_options& options);

  // Weights held by a stage serving `range`: layers + prelude, + embedding if it
  // starts at 0, + head if it ends at the last layer.
  uint64_t weight_bytes(layer_range range) const;
  // weight_bytes + KV(context × concurrent sequences) + scratch.
  uint64_t memory_bytes(layer_range range) const;
  bool fits(const worker_profile& worker, layer_range range) const;
  // FLOP/s the worker delivers (measured_layer_ms converted when given).
  double effective_flops_per_s(const worker_profile& worker) const;
  double compute_ms(const worker_profile& worker, layer_range range) const;
  // RTT + bytes in / download + bytes out / upload.
  double link_ms(const worker_profile& worker, layer_range range) const;
  // Weight bytes of `range` (incl. embedding/head/prelude) the worker does not hold.
  uint64_t missing_bytes(const worker_profile& worker, layer_range range) const;
  // missing_bytes / download, amortised over load_horizon_tokens (0 when the horizon is 0).
  double load_ms(const worker_profile& worker, layer_range range) const;
  // compute + link + load; +infinity when the range does not fit the worker.
  double stage_ms(const worker_profile& worker, layer_range range) const;
  // Prefill of `prompt_tokens` through one stage (compute and boundary bytes scale with tokens).
  double prefill_stage_ms(const worker_profile& worker, layer_range range, uint64_t prompt_tokens) const;
  // stage_ms for every range of one worker: entry [i * (n + 1) + j] is range [i, j)
  // (+infinity where i >= j). O(n^2); values equal stage_ms exactly.
  std::vector<double> stage_table(const worker_profile& worker) const;
  void stage_table_into(const worker_profile& worker, std::vector<double>& table) const;

  const model_profile& model() const { return *model_; }
  const planner_options& options() const { return options_; }

private:
  double stage_ms_given_missing(const worker_profile& worker, layer_range range, uint64_t missing) const;
  const model_profile* model_;  // must outlive the cost_model
  planner_options options_;
  std::vector<uint64_t> param_prefix_, flops_prefix_, kv_prefix_;
  double mean_layer_flops_ = 0;
};

struct stage {
  std::string worker_id;
  int worker_index = -1;         // index into the workers vector given to the planner
  layer_range layers;
  uint64_t memory_bytes = 0;     // need of this stage
  uint64_t memory_budget = 0;    // the worker's memory_bytes
  uint64_t load_bytes = 0;       // weights the worker must fetch
  double compute_ms = 0, link_ms = 0, load_ms = 0;
  double predicted_ms = 0;       // compute + link + load (per token)
};

struct plan {
  objective goal = objective::latency;
  std::vector<stage> stages;               // pipeline order, layers contiguous from 0 to n
  double predicted_ms_per_token = 0;       // the objective: sum (latency) or max (throughput) of stage costs
  double latency_ms_per_token = 0;         // sum of stage costs
  double bottleneck_ms = 0;                // max stage cost
  bool feasible = false;
  std::string reason;                      // why not feasible, in words a user can act on
};

// One stage assignment before evaluation.
struct assignment {
  int worker_index = -1;
  layer_range layers;
};

// Evaluates an arbitrary assignment (pipeline order) with the cost model. A plan
// that breaks a memory limit or does not cover [0, n) is returned with
// feasible = false and a reason; its numbers are still filled in.
plan evaluate(const model_profile& model, const std::vector<worker_profile>& workers,
              const std::vector<assignment>& stages, const planner_options& options);

// The optimal plan for options.goal. Workers may be skipped; ranges that do not
// fit a worker's memory are never used. When no plan fits, feasible = false and
// reason says what the pool lacks. Throughput ties on the bottleneck go to the
// plan with the least latency. Exact over all worker subsets, orders and cuts
// when stage costs are position-free (uniform layers, no cached weights; role
// DP, O(n^2 m)) or the pool is small (subset DP); otherwise the best of several
// worker orders, each solved exactly by the order DP, plus a bounded swap
// search (docs/planner.md "Algorithms").
plan partition(const model_profile& model, const std::vector<worker_profile>& workers,
               const planner_options& options);

// The O(n^2 m) ordered-partition DP for one fixed worker order (`order` holds
// worker indices; stages follow that order, any worker may be skipped).
plan partition_in_order(const model_profile& model, const std::vector<worker_profile>& workers,
                        const std::vector<int>& order, const planner_options& options);

struct replan_result {
  plan chosen;                 // what to run now
  plan candidate;              // the best plan found this time
  bool kept_current = false;   // the current plan was within the stability margin
  uint64_t bytes_to_move = 0;  // weight bytes workers must fetch to run `chosen`
  std::string why;             // one line for logs
};

// Re-plans after a change in the pool. Workers of `current` are taken to hold
// the layers they serve now. The current plan is kept when it is still
// feasible (all its workers present, within memory) and the candidate is not
// better by more than options.stability_margin.
replan_result replan(const model_profile& model, const std::vector<worker_profile>& workers,
                     const plan& current, const planner_options& options);

// Weight bytes the workers must fetch to run `p`, given what they hold.
uint64_t bytes_to_move(const model_profile& model, const std::vector<worker_profile>& workers,
                       const plan& p, const planner_options& options);

// Baselines. equal_split: n layers in equal contiguous chunks over the workers in
// their given order (the first n workers when m > n). memory_proportional:
// layers in proportion to memory_bytes (largest remainder), given order,
// workers with 0 layers skipped. Either may be infeasible (memory), with a reason.
plan equal_split(const model_profile& model, const std::vector<worker_profile>& workers,
                 const planner_options& options);
plan memory_proportional(const model_profile& model, const std::vector<worker_profile>& workers,
                         const planner_options& options);

// Brute force for tests: every ordered subset of workers and every cut.
// Exponential; only for tiny instances (m <= 6, n <= 10).
plan brute_force_partition(const model_profile& model, const std::vector<worker_profile>& workers,
                           const planner_options& options);

// "3.2 GB", "512.0 MB", "900 B": for reasons and tables.
std::string format_bytes(uint64_t bytes);

// Prefill latency of `prompt_tokens` through a plan (sum over its stages).
double predict_prefill_ms(const model_profile& model, const std::vector<worker_profile>& workers,
                          const plan& p, uint64_t prompt_tokens, const planner_options& options);

}  // namespace tessera::planner
