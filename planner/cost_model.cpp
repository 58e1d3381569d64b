// The planner's cost model: per-token latency, memory need and load time of
// one stage (worker × layer range). Formulas: docs/planner.md "Cost model".
#include <algorithm>
#include <cstdio>
#include <limits>

#include "planner/planner.hpp"

namespace tessera::planner {

const char* to_string(device_kind kind) {
  switch (kind) {
    case device_kind::phone: return "phone";
    case device_kind::laptop: return "laptop";
    case device_kind::desktop_gpu: return "desktop_gpu";
    case device_kind::server_gpu: return "server_gpu";
    case device_kind::browser: return "browser";
    case device_kind::server_cpu: return "server_cpu";
    case device_kind::unknown: break;
  }
  return "unknown";
}

bool parse_device_kind(const std::string& text, device_kind& out) {
  for (device_kind k : {device_kind::unknown, device_kind::phone, device_kind::laptop,
                        device_kind::desktop_gpu, device_kind::server_gpu, device_kind::browser,
                        device_kind::server_cpu}) {
    if (text == to_string(k)) {
      out = k;
      return true;
    }
  }
  return false;
}

const char* to_string(objective goal) {
  return goal == objective::throughput ? "throughput" : "latency";
}

cost_model::cost_model(const model_profile& model, const planner_options& options)
    : model_(&model), options_(options) {
  const auto n = model.layers.size();
  param_prefix_.assign(n + 1, 0);
  flops_prefix_.assign(n + 1, 0);
  kv_prefix_.assign(n + 1, 0);
  for (size_t l = 0; l < n; ++l) {
    param_prefix_[l + 1] = param_prefix_[l] + model.layers[l].param_bytes;
    flops_prefix_[l + 1] = flops_prefix_[l] + model.layers[l].flops_per_token;
    kv_prefix_[l + 1] = kv_prefix_[l] + model.layers[l].kv_bytes_per_token;
  }
  mean_layer_flops_ = n == 0 ? 0.0 : static_cast<double>(flops_prefix_[n]) / static_cast<double>(n);
}

uint64_t cost_model::weight_bytes(layer_range r) const {
  const int n = model_->num_layers();
  uint64_t bytes = param_prefix_[r.end] - param_prefix_[r.begin] + model_->prelude_param_bytes;
  if (r.begin == 0) bytes += model_->embed_param_bytes;
  if (r.end == n) bytes += model_->head_param_bytes;
  return bytes;
}

uint64_t cost_model::memory_bytes(layer_range r) const {
  const uint64_t kv = (kv_prefix_[r.end] - kv_prefix_[r.begin]) * options_.context_tokens *
                      options_.concurrent_sequences;
  return weight_bytes(r) + kv + options_.scratch_bytes;
}

bool cost_model::fits(const worker_profile& w, layer_range r) const {
  return memory_bytes(r) <= w.memory_bytes;
}

double cost_model::effective_flops_per_s(const worker_profile& w) const {
  if (w.measured_layer_ms > 0 && mean_layer_flops_ > 0) return mean_layer_flops_ / (w.measured_layer_ms / 1000.0);
  return w.flops_per_s;
}

double cost_model::compute_ms(const worker_profile& w, layer_range r) const {
  double flops = static_cast<double>(flops_prefix_[r.end] - flops_prefix_[r.begin]);
  if (r.begin == 0) flops += static_cast<double>(model_->embed_flops_per_token);
  if (r.end == model_->num_layers()) flops += static_cast<double>(model_->head_flops_per_token);
  const double speed = effective_flops_per_s(w);
  if (flops == 0) return 0;
  if (speed <= 0) return std::numeric_limits<double>::infinity();
  return flops / speed * 1000.0;
}

namespace {
double transfer_ms(double bytes, double bytes_per_s) {
  if (bytes <= 0) return 0;
  if (bytes_per_s <= 0) return std::numeric_limits<double>::infinity();
  return bytes / bytes_per_s * 1000.0;
}
}  // namespace

double cost_model::link_ms(const worker_profile& w, layer_range r) const {
  const int n = model_->num_layers();
  const double in = r.begin == 0 ? static_cast<double>(model_->token_bytes)
                                 : static_cast<double>(model_->layers[r.begin - 1].boundary_bytes_per_token);
  const double out = r.end == n ? static_cast<double>(model_->token_bytes)
                                : static_cast<double>(model_->layers[r.end - 1].boundary_bytes_per_token);
  return w.rtt_ms + transfer_ms(in, w.download_bytes_per_s) + transfer_ms(out, w.upload_bytes_per_s);
}

uint64_t cost_model::missing_bytes(const worker_profile& w, layer_range r) const {
  const int n = model_->num_layers();
  if (w.cached_layers.empty())
    return param_prefix_[r.end] - param_prefix_[r.begin] + (r.begin == 0 ? model_->embed_param_bytes : 0) +
           (r.end == n ? model_->head_param_bytes : 0) + model_->prelude_param_bytes;
  // Mark the layers of r the worker holds (ranges may overlap).
  std::vector<char> held(static_cast<size_t>(std::max(0, r.size())), 0);
  bool embed_held = false, head_held = false, any_held = false;
  for (const layer_range& c : w.cached_layers) {
    const int b = std::max(c.begin, r.begin), e = std::min(c.end, r.end);
    for (int l = b; l < e; ++l) held[static_cast<size_t>(l - r.begin)] = 1;
    if (c.begin <= 0 && c.end > 0) embed_held = true;
    if (c.end >= n && c.begin < n) head_held = true;
    if (!c.empty()) any_held = true;
  }
  uint64_t missing = 0;
  for (int l = r.begin; l < r.end; ++l)
    if (!held[static_cast<size_t>(l - r.begin)]) missing += model_->layers[static_cast<size_t>(l)].param_bytes;
  if (r.begin == 0 && !embed_held) missing += model_->embed_param_bytes;
  if (r.end == n && !head_held) missing += model_->head_param_bytes;
  if (!any_held) missing += model_->prelude_param_bytes;
  return missing;
}

double cost_model::load_ms(const worker_profile& w, layer_range r) const {
  if (options_.load_horizon_tokens <= 0) return 0;
  return transfer_ms(static_cast<double>(missing_bytes(w, r)), w.download_bytes_per_s) /
         options_.load_horizon_tokens;
}

std::string format_bytes(uint64_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  return buf;
}

double cost_model::stage_ms_given_missing(const worker_profile& w, layer_range r, uint64_t missing) const {
  if (!fits(w, r)) return std::numeric_limits<double>::infinity();
  double load = 0;
  if (options_.load_horizon_tokens > 0)
    load = transfer_ms(static_cast<double>(missing), w.download_bytes_per_s) / options_.load_horizon_tokens;
  return compute_ms(w, r) + link_ms(w, r) + load;
}

double cost_model::stage_ms(const worker_profile& w, layer_range r) const {
  if (r.empty() || r.begin < 0 || r.end > model_->num_layers()) return std::numeric_limits<double>::infinity();
  return stage_ms_given_missing(w, r, missing_bytes(w, r));
}

std::vector<double> cost_model::stage_table(const worker_profile& w) const {
  std::vector<double> table;
  stage_table_into(w, table);
  return table;
}

// The same arithmetic as stage_ms, in the same order (so the values are equal
// bit for bit), with the per-row and per-column terms hoisted out of the loop.
void cost_model::stage_table_into(const worker_profile& w, std::vector<double>& table) const {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const int n = model_->num_layers();
  const auto stride = static_cast<size_t>(n + 1);
  table.assign(stride * stride, inf);
  // held_prefix[l]: parameter bytes of the held layers among [0, l).
  std::vector<char> held(static_cast<size_t>(n), 0);
  bool embed_held = false, head_held = false, any_held = false;
  for (const layer_range& c : w.cached_layers) {
    for (int l = std::max(c.begin, 0); l < std::min(c.end, n); ++l) held[static_cast<size_t>(l)] = 1;
    if (c.begin <= 0 && c.end > 0) embed_held = true;
    if (c.end >= n && c.begin < n) head_held = true;
    if (!c.empty()) any_held = true;
  }
  std::vector<uint64_t> held_prefix(stride, 0);
  for (int l = 0; l < n; ++l)
    held_prefix[static_cast<size_t>(l) + 1] =
        held_prefix[static_cast<size_t>(l)] + (held[static_cast<size_t>(l)] ? model_->layers[static_cast<size_t>(l)].param_bytes : 0);
  const double speed = effective_flops_per_s(w);
  const uint64_t kv_factor = options_.context_tokens * options_.concurrent_sequences;
  std::vector<double> out_ms(stride, 0);
  for (int j = 1; j <= n; ++j) {
    const double out = j == n ? static_cast<double>(model_->token_bytes)
                              : static_cast<double>(model_->layers[static_cast<size_t>(j) - 1].boundary_bytes_per_token);
    out_ms[static_cast<size_t>(j)] = transfer_ms(out, w.upload_bytes_per_s);
  }
  for (int i = 0; i < n; ++i) {
    const double in = i == 0 ? static_cast<double>(model_->token_bytes)
                             : static_cast<double>(model_->layers[static_cast<size_t>(i) - 1].boundary_bytes_per_token);
    const double rtt_in = w.rtt_ms + transfer_ms(in, w.download_bytes_per_s);
    double* row = &table[static_cast<size_t>(i) * stride];
    for (int j = i + 1; j <= n; ++j) {
      uint64_t weights = param_prefix_[j] - param_prefix_[i] + model_->prelude_param_bytes;
      if (i == 0) weights += model_->embed_param_bytes;
      if (j == n) weights += model_->head_param_bytes;
      const uint64_t memory = weights + (kv_prefix_[j] - kv_prefix_[i]) * kv_factor + options_.scratch_bytes;
      // Memory and missing bytes only grow with j: once a range does not fit, no longer one does.
      if (memory > w.memory_bytes) break;
      double flops = static_cast<double>(flops_prefix_[j] - flops_prefix_[i]);
      if (i == 0) flops += static_cast<double>(model_->embed_flops_per_token);
      if (j == n) flops += static_cast<double>(model_->head_flops_per_token);
      const double compute = flops == 0 ? 0.0 : (speed <= 0 ? inf : flops / speed * 1000.0);
      double load = 0;
      if (options_.load_horizon_tokens > 0) {
        uint64_t missing = (param_prefix_[j] - param_prefix_[i]) - (held_prefix[j] - held_prefix[i]);
        if (i == 0 && !embed_held) missing += model_->embed_param_bytes;
        if (j == n && !head_held) missing += model_->head_param_bytes;
        if (!any_held) missing += model_->prelude_param_bytes;
        load = transfer_ms(static_cast<double>(missing), w.download_bytes_per_s) / options_.load_horizon_tokens;
      }
      const double cost = compute + (rtt_in + out_ms[static_cast<size_t>(j)]) + load;
      if (cost == inf) break;
      row[j] = cost;
    }
  }
}

double cost_model::prefill_stage_ms(const worker_profile& w, layer_range r, uint64_t prompt_tokens) const {
  const double t = static_cast<double>(prompt_tokens);
  const int n = model_->num_layers();
  const double in = r.begin == 0 ? static_cast<double>(model_->token_bytes)
                                 : static_cast<double>(model_->layers[r.begin - 1].boundary_bytes_per_token);
  // The last stage returns one token id however long the prompt is.
  const double out = r.end == n ? static_cast<double>(model_->token_bytes)
                                : t * static_cast<double>(model_->layers[r.end - 1].boundary_bytes_per_token);
  return compute_ms(w, r) * t + w.rtt_ms + transfer_ms(in * t, w.download_bytes_per_s) +
         transfer_ms(out, w.upload_bytes_per_s);
}

}  // namespace tessera::planner
