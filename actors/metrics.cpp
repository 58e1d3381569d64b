#include "actors/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tessera::actors {

namespace {

bool valid_name(const std::string& n, bool metric) {
  if (n.empty())
    return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
      return false;
  }
  return metric || n.compare(0, 2, "__") != 0;
}

std::string label_text(const metric_labels& labels, const char* extra_name = nullptr,
                       const std::string& extra_value = {}) {
  if (labels.empty() && !extra_name)
    return {};
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  if (extra_name) {
    if (!first)
      out += ',';
    out += std::string(extra_name) + "=\"" + escape_label_value(extra_value) + "\"";
  }
  return out + "}";
}

const char* type_name(int k) { return k == 0 ? "counter" : k == 1 ? "gauge" : "histogram"; }

// Percentile (nearest rank) of a copy of `v`; 0 when empty.
double percentile(std::deque<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

void push_bounded(std::deque<double>& d, double v, size_t max) {
  d.push_back(v);
  if (d.size() > max)
    d.pop_front();
}

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

namespace {

// Backslash and newline escaped; double quotes too when `quotes` (label values).
std::string escape(const std::string& v, bool quotes) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string escape_label_value(const std::string& v) { return escape(v, true); }

std::string format_sample_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {  // the shortest text that reads back as v
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

// ---- histogram ----

histogram::histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void histogram::observe(double v) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();  // first bound >= v
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[static_cast<size_t>(at)];
  sum_ += v;
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (auto c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_;
  return s;
}

// ---- registry ----

metrics_registry::series& metrics_registry::find_or_add(const std::string& name, const std::string& help, kind type,
                                                        const metric_labels& labels,
                                                        const std::vector<double>& bounds) {
  if (!valid_name(name, true))
    throw std::invalid_argument("bad metric name \"" + name + "\"");
  for (auto& [k, v] : labels)
    if (!valid_name(k, false) || (type == kind::histogram && k == "le"))
      throw std::invalid_argument("metric " + name + ": bad label name \"" + k + "\"");
  for (size_t i = 1; i < bounds.size(); ++i)
    if (!(bounds[i - 1] < bounds[i]))
      throw std::invalid_argument("metric " + name + ": histogram bounds do not ascend at " +
                                  format_sample_value(bounds[i]));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = families_.try_emplace(name, family{type, help, bounds, {}});
  auto& fam = it->second;
  if (!fresh && (fam.type != type || fam.help != help || fam.bounds != bounds))
    throw std::invalid_argument("metric " + name + " is already registered as a " +
                                type_name(static_cast<int>(fam.type)) + " with other help or buckets");
  for (auto& s : fam.members)
    if (s.labels == labels)
      return s;
  series s;
  s.labels = labels;
  if (type == kind::counter)
    s.c = std::make_unique<counter>();
  else if (type == kind::gauge)
    s.g = std::make_unique<gauge>();
  else
    s.h = std::make_unique<histogram>(bounds);
  fam.members.push_back(std::move(s));
  return fam.members.back();
}

counter& metrics_registry::add_counter(const std::string& name, const std::string& help, const metric_labels& labels) {
  return *find_or_add(name, help, kind::counter, labels, {}).c;
}

gauge& metrics_registry::add_gauge(const std::string& name, const std::string& help, const metric_labels& labels) {
  return *find_or_add(name, help, kind::gauge, labels, {}).g;
}

histogram& metrics_registry::add_histogram(const std::string& name, const std::string& help,
                                           const std::vector<double>& bounds, const metric_labels& labels) {
  return *find_or_add(name, help, kind::histogram, labels, bounds).h;
}

std::string metrics_registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + escape(fam.help, false) + "\n";
    out += "# TYPE " + name + " " + type_name(static_cast<int>(fam.type)) + "\n";
    for (auto& s : fam.members) {
      if (s.c) {
        out += name + label_text(s.labels) + " " + std::to_string(s.c->value()) + "\n";
      } else if (s.g) {
        out += name + label_text(s.labels) + " " + std::to_string(s.g->value()) + "\n";
      } else {
        auto snap = s.h->read();
        for (size_t i = 0; i <= snap.bounds.size(); ++i) {
          const auto le = i < snap.bounds.size() ? format_sample_value(snap.bounds[i]) : std::string("+Inf");
          out += name + "_bucket" + label_text(s.labels, "le", le) + " " + std::to_string(snap.cumulative[i]) + "\n";
        }
        out += name + "_sum" + label_text(s.labels) + " " + format_sample_value(snap.sum) + "\n";
        out += name + "_count" + label_text(s.labels) + " " + std::to_string(snap.count) + "\n";
      }
    }
  }
  return out;
}

std::string render_family(const std::string& name, const std::string& help, const char* type,
                          const metric_samples& samples) {
  if (samples.empty())
    return {};
  std::string out = "# HELP " + name + " " + escape(help, false) + "\n# TYPE " + name + " " + type + "\n";
  for (auto& [labels, value] : samples)
    out += name + label_text(labels) + " " + format_sample_value(value) + "\n";
  return out;
}

// ---- node_metrics ----

node_metrics& node_metrics::get() {
  static node_metrics instance;
  return instance;
}

node_metrics::node_metrics() {
  auto& r = registry;
  const std::string requests_help = "Requests that ended, by outcome (completed, failed, cancelled: the client went away).";
  completed_ = &r.add_counter("tessera_requests_total", requests_help, {{"outcome", "completed"}});
  failed_ = &r.add_counter("tessera_requests_total", requests_help, {{"outcome", "failed"}});
  cancelled_ = &r.add_counter("tessera_requests_total", requests_help, {{"outcome", "cancelled"}});
  tokens_ = &r.add_counter("tessera_tokens_generated_total", "Tokens generated and sent to clients.");
  recoveries_ = &r.add_counter("tessera_recoveries_total", "Times a request lost a stage and re-routed.");
  replans_ = &r.add_counter("tessera_replans_total", "Plans decided (assigned at once or migrated in the background).");
  joins_ = &r.add_counter("tessera_worker_joins_total", "Workers that joined (Hello accepted).");
  leaves_ = &r.add_counter("tessera_worker_leaves_total", "Workers that left, closed or were dropped.");
  relayed_ = &r.add_counter("tessera_relayed_bytes_total", "Bytes of activations relayed from one stage to the next.");
  queue_depth_ = &r.add_gauge("tessera_queue_depth", "Requests waiting for a route (queued or recovering).");
  active_ = &r.add_gauge("tessera_requests_active", "Requests in flight.");
  workers_ = &r.add_gauge("tessera_workers", "Workers in the planner's pool.");
  const std::vector<double> latency = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  ttft_ = &r.add_histogram("tessera_time_to_first_token_seconds",
                           "From a request's arrival to its first token reaching the client.", latency);
  per_token_ = &r.add_histogram("tessera_time_per_output_token_seconds",
                                "Between two consecutive tokens of one request.", latency);
  stage_bounds_ = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
}

void node_metrics::request_started(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight r;
  r.started = r.last_token = clock_type::now();
  requests_[id] = r;
  active_->set(static_cast<int64_t>(requests_.size()));
  queue_depth_->add(1);
}

void node_metrics::request_waiting(uint64_t id, bool waiting) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.waiting == waiting)
    return;
  it->second.waiting = waiting;
  queue_depth_->add(waiting ? 1 : -1);
}

void node_metrics::token(uint64_t id) {
  tokens_->inc();
  const auto now = clock_type::now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end())
    return;
  auto& r = it->second;
  const bool first = r.tokens++ == 0;
  const double s = seconds_between(first ? r.started : r.last_token, now);
  (first ? ttft_ : per_token_)->observe(s);
  push_bounded(first ? recent_ttft_ms_ : recent_per_token_ms_, s * 1000, 2048);
  if (first)
    r.first_token = now;
  r.last_token = now;
}

void node_metrics::request_ended(uint64_t id, const char* outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end())
    return;
  if (it->second.waiting)
    queue_depth_->add(-1);
  requests_.erase(it);
  active_->set(static_cast<int64_t>(requests_.size()));
  const std::string o = outcome;
  (o == "completed" ? completed_ : o == "cancelled" ? cancelled_ : failed_)->inc();
}

void node_metrics::stage_step(uint32_t stage, double seconds) {
  registry
      .add_histogram("tessera_stage_step_seconds",
                     "One step at one pipeline stage: from the node sending it to the stage's result (compute and link).",
                     stage_bounds_, {{"stage", std::to_string(stage)}})
      .observe(seconds);
}

void node_metrics::relayed(uint64_t bytes) { relayed_->inc(bytes); }

void node_metrics::recovered(uint64_t id, const std::string& why) {
  recoveries_->inc();
  note("recovery", "request " + std::to_string(id) + ": " + why);
}

void node_metrics::replanned() { replans_->inc(); }

void node_metrics::plan_event(const std::string& line) { note("plan", line); }

void node_metrics::worker_joined(uint64_t id, const std::string& name) {
  joins_->inc();
  note("join", "worker " + std::to_string(id) + " (" + name + ") joined");
}

void node_metrics::worker_left(uint64_t id, const std::string& reason) {
  leaves_->inc();
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_caches_.erase(id);
  }
  note("leave", "worker " + std::to_string(id) + " left: " + reason);
}

void node_metrics::workers(size_t n) { workers_->set(static_cast<int64_t>(n)); }

void node_metrics::worker_cache(uint64_t id, const worker_cache_report& report) {
  std::lock_guard<std::mutex> lock(mu_);
  worker_caches_[id] = report;
}

std::string node_metrics::worker_cache_text() const {
  metric_samples kv, budget, sequences, bytes, evictions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, r] : worker_caches_) {
      const metric_labels labels = {{"worker", std::to_string(id)}};
      kv.push_back({labels, static_cast<double>(r.kv_bytes)});
      budget.push_back({labels, static_cast<double>(r.kv_budget)});
      sequences.push_back({labels, static_cast<double>(r.cached_sequences)});
      bytes.push_back({labels, static_cast<double>(r.cached_bytes)});
      evictions.push_back({labels, static_cast<double>(r.evictions)});
    }
  }
  return render_family("tessera_worker_kv_bytes", "KV a worker holds, live and cached (its last Heartbeat).", "gauge", kv) +
         render_family("tessera_worker_kv_budget_bytes", "The KV budget a worker was given with its stage.", "gauge",
                       budget) +
         render_family("tessera_worker_cached_sequences", "Finished sequences a worker keeps as cached prefixes.",
                       "gauge", sequences) +
         render_family("tessera_worker_cached_bytes", "KV bytes of a worker's cached prefixes.", "gauge", bytes) +
         render_family("tessera_worker_cache_evictions_total", "Cached prefixes a worker evicted to stay in budget.",
                       "counter", evictions);
}

void node_metrics::note(const char* kind, std::string text) {
  const auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::lock_guard<std::mutex> lock(mu_);
  timeline_.push_back({static_cast<int64_t>(unix_ms), kind, std::move(text)});
  if (timeline_.size() > 100)
    timeline_.pop_front();
}

std::string node_metrics::live_json() const {
  using nlohmann::json;
  const auto now = clock_type::now();
  json requests = json::array(), timeline = json::array();
  json latency;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, r] : requests_) {
      const double decoding_s = r.tokens > 1 ? seconds_between(r.first_token, r.last_token) : 0;
      requests.push_back({{"id", id},
                          {"state", r.waiting ? "waiting" : "running"},
                          {"tokens", r.tokens},
                          {"tokens_per_s", decoding_s > 0 ? static_cast<double>(r.tokens - 1) / decoding_s : 0.0},
                          {"age_s", seconds_between(r.started, now)}});
    }
    for (auto& e : timeline_)
      timeline.push_back({{"t_ms", e.unix_ms}, {"kind", e.kind}, {"text", e.text}});
    auto pct = [](const std::deque<double>& d) {
      return json{{"p50", percentile(d, 0.5)}, {"p95", percentile(d, 0.95)}, {"n", d.size()}};
    };
    latency = {{"ttft_ms", pct(recent_ttft_ms_)}, {"per_token_ms", pct(recent_per_token_ms_)}};
  }
  json counters = {{"completed", completed_->value()}, {"failed", failed_->value()},
                   {"cancelled", cancelled_->value()}, {"tokens", tokens_->value()},
                   {"recoveries", recoveries_->value()}, {"replans", replans_->value()},
                   {"joins", joins_->value()},         {"leaves", leaves_->value()},
                   {"relayed_bytes", relayed_->value()}, {"queue_depth", queue_depth_->value()}};
  return json{{"requests", requests}, {"latency", latency}, {"counters", counters}, {"timeline", timeline}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tessera::actors
