// Metrics of one node process: a thread-safe registry of counters, gauges and
// histograms rendered in Prometheus' text exposition format (version 0.0.4),
// and node_metrics, the node's own metrics plus the live view the dashboard
// shows (requests in flight, latency percentiles, a timeline of re-plans,
// recoveries, joins and leaves). Actors call node_metrics' one-line hooks where
// things happen; the gateway's threads read render() and live_json(). No CAF.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tessera::actors {

// Label name/value pairs of one series, e.g. {{"outcome", "completed"}}.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

class counter {
public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

class gauge {
public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<int64_t> value_{0};
};

// Observations counted into buckets with the given upper bounds (ascending;
// +Inf is implicit), with their sum and count.
class histogram {
public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v);
  struct snapshot {
    std::vector<double> bounds;        // without +Inf
    std::vector<uint64_t> cumulative;  // one per bound, then one for +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  snapshot read() const;

private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last: above every bound
  double sum_ = 0;
};

// Families of series by metric name. add_* with a name and labels already
// registered returns the same series, so a component may register what it
// needs where it starts (e.g. the prefix cache's counters). Throws
// std::invalid_argument naming a bad metric or label name, a name registered
// with another type or help text, or histogram bounds that do not ascend.
// Series live as long as the registry; references stay valid.
class metrics_registry {
public:
  counter& add_counter(const std::string& name, const std::string& help, const metric_labels& labels = {});
  gauge& add_gauge(const std::string& name, const std::string& help, const metric_labels& labels = {});
  histogram& add_histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                           const metric_labels& labels = {});
  // Every family: # HELP, # TYPE, then its series (histograms as _bucket{le}, _sum, _count).
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct series {
    metric_labels labels;
    std::unique_ptr<counter> c;
    std::unique_ptr<gauge> g;
    std::unique_ptr<histogram> h;
  };
  struct family {
    kind type;
    std::string help;
    std::vector<double> bounds;
    std::vector<series> members;
  };
  series& find_or_add(const std::string& name, const std::string& help, kind type, const metric_labels& labels,
                      const std::vector<double>& bounds);
  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

// Text exposition helpers (exposed for tests): a label value with \, " and
// newline escaped; a sample value as Prometheus writes it (+Inf, integers
// without a fraction).
std::string escape_label_value(const std::string& v);
std::string format_sample_value(double v);

// One family written at scrape time from a snapshot (values not kept in a
// registry, e.g. per-worker series that end with their worker): # HELP,
// # TYPE (`type`: "counter" or "gauge"), one line per sample. Nothing for no samples.
using metric_samples = std::vector<std::pair<metric_labels, double>>;
std::string render_family(const std::string& name, const std::string& help, const char* type,
                          const metric_samples& samples);

// What a worker's last Heartbeat said its prefix cache holds.
struct worker_cache_report {
  uint64_t kv_bytes = 0, kv_budget = 0, cached_sequences = 0, cached_bytes = 0, evictions = 0;
};

// The node's metrics, and the dashboard's live view. One per process
// (node_metrics::get()); every hook is thread-safe and cheap.
class node_metrics {
public:
  static node_metrics& get();
  node_metrics();

  metrics_registry registry;  // more components may register their metrics here

  // ---- hooks ----
  void request_started(uint64_t id);
  void request_waiting(uint64_t id, bool waiting);   // waiting for a route (queued/recovering) or not
  void token(uint64_t id);                           // a token reached the client
  // The request ended: "completed", "failed" or "cancelled" (its client went away). Counts once per id.
  void request_ended(uint64_t id, const char* outcome);
  void stage_step(uint32_t stage, double seconds);   // one Forward at pipeline stage `stage`, sent to result
  void relayed(uint64_t bytes);                      // activations relayed from one worker to the next
  void recovered(uint64_t id, const std::string& why);
  void replanned();                                  // a new plan was decided
  void plan_event(const std::string& line);          // a line of the planner's history
  void worker_joined(uint64_t id, const std::string& name);
  void worker_left(uint64_t id, const std::string& reason);
  void workers(size_t n);
  void worker_cache(uint64_t id, const worker_cache_report& report);  // from each Heartbeat; forgotten on leave

  // Per-worker prefix cache series of the workers present (kv bytes, budget,
  // cached sequences and bytes, evictions), labelled worker="<id>".
  std::string worker_cache_text() const;

  // The dashboard's view: {"requests": [{id, state, tokens, tokens_per_s, age_s}],
  // "latency": {ttft_ms: {p50, p95, n}, per_token_ms: {p50, p95, n}},
  // "counters": {...}, "timeline": [{t_ms, kind, text}]} (t_ms: Unix time).
  std::string live_json() const;

private:
  using clock_type = std::chrono::steady_clock;
  struct in_flight {
    clock_type::time_point started, last_token;
    uint64_t tokens = 0;
    bool waiting = true;
    clock_type::time_point first_token;
  };
  void note(const char* kind, std::string text);

  counter *completed_, *failed_, *cancelled_, *tokens_, *recoveries_, *replans_, *joins_, *leaves_, *relayed_;
  gauge *queue_depth_, *active_, *workers_;
  histogram *ttft_, *per_token_;
  std::vector<double> stage_bounds_;

  mutable std::mutex mu_;
  std::map<uint64_t, in_flight> requests_;
  std::deque<double> recent_ttft_ms_, recent_per_token_ms_;  // newest last, bounded
  struct event {
    int64_t unix_ms;
    std::string kind, text;
  };
  std::deque<event> timeline_;  // newest last, bounded
  std::map<uint64_t, worker_cache_report> worker_caches_;
};

inline node_metrics& metrics() { return node_metrics::get(); }

}  // namespace tessera::actors
