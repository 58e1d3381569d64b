// What the node measures of one worker's link and compute, for the planner's
// cost model (docs/planner.md "Measured links and speeds"). Pure: times are
// passed in, nothing here reads a clock or touches a socket; the worker actor
// holds one link_meter and one compute_meter per worker.
//
// Link: the node sends Probe frames of random bytes and times each round trip
// to the worker's Echo (answered ahead of queued steps). A burst at join —
// small probes for the RTT, large ones for the bandwidth — then one small and
// one large probe every interval. An echo is accepted only when it returns the
// bytes of the probe in flight, so a worker cannot answer before it has read
// the probe: it can make its link look slower, never faster.
//
// Compute: each decode step that had the worker to itself gives the node's wall
// time W (Forward sent to Result read), the compute time the worker reports r,
// the probed RTT and the time T its bytes take at the probed bandwidth. The
// compute sample is max(W - RTT - T, r): the report can only raise it. The
// round trip during steps is bounded from above by what the steps leave for
// it, W - r - T; the planner uses the smaller of that and the probed RTT (an
// idle worker on a busy machine answers probes late: the steps show the link
// as it is while the worker serves). A worker reporting more compute than its
// steps had room for lowers its link by the amount its compute rises;
// reporting less changes nothing. All enter EWMAs.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace tessera::actors {

struct link_meter_options {
  uint32_t small_bytes = 64;        // RTT probes
  uint32_t large_bytes = 65536;     // bandwidth probes
  uint32_t burst = 3;               // probes of each size at join
  uint32_t interval_ms = 2000;      // one small + one large probe this often after the burst; 0: join only
  double weight = 0.3;              // EWMA weight of the newest round
  double max_bytes_per_s = 1e10;    // a bandwidth too high to resolve is taken as this
};

// The link as measured: round trip of a small frame and bandwidth per direction.
struct link_estimate {
  bool measured = false;  // false until the join burst completed
  double rtt_ms = 0;
  double bytes_per_s = 0;
  uint32_t echoes = 0;    // echoes accepted so far
};

class link_meter {
public:
  struct probe {
    uint64_t seq = 0;
    std::string payload;
  };

  // Throws std::invalid_argument naming the bad option (sizes 0 or small >=
  // large, burst 0, weight outside (0, 1], max_bytes_per_s not positive).
  link_meter(link_meter_options opts, uint64_t seed);

  // The next probe to send at `now_ms` (a monotonic clock in ms): none while one
  // is in flight, when the next round is not due yet, or when the interval is 0
  // and the burst is done.
  std::optional<probe> next(double now_ms);
  // An Echo read at `now_ms`. False (and nothing learned) when it does not
  // answer the probe in flight with its bytes.
  bool echoed(uint64_t seq, const std::string& payload, double now_ms);
  // A probe in flight is given up (its Echo never came within `timeout_ms`):
  // true when one was dropped at `now_ms`; the next round is tried later.
  bool expire(double now_ms, double timeout_ms);

  link_estimate estimate() const;
  // Milliseconds to move `bytes` one way at the measured bandwidth (0 unmeasured).
  double transfer_ms(double bytes) const;
  const link_meter_options& options() const { return opts_; }

private:
  void learn_round();
  link_meter_options opts_;
  std::mt19937_64 rng_;
  uint64_t next_seq_ = 1;
  std::optional<probe> in_flight_;
  bool in_flight_large_ = false;
  double sent_ms_ = 0;
  uint32_t sent_small_ = 0, sent_large_ = 0;  // in the current round
  double round_small_ms_ = -1, round_large_ms_ = -1;  // fastest echo of each size in the round
  double next_round_ms_ = 0;
  bool burst_done_ = false;
  link_estimate est_;
  double ms_per_byte_ = 0;  // EWMA of one-way time per byte
  uint32_t echoes_ = 0;
};

// A worker's compute as its decode steps show it: ms per position over the
// layers it ran, an EWMA of max(W - L, r) (above), and the link the steps
// bound from above.
class compute_meter {
public:
  // weight: EWMA weight of the newest step, in (0, 1] (std::invalid_argument
  // otherwise). The k-th step after a restart weighs max(weight, 1/k): the
  // first 1/weight steps are a plain mean, so one slow first step does not
  // linger. 0.05 (about the last 40 steps): on a loaded 2-core machine single
  // steps stall for tens of ms, and a short memory made predictions swing.
  explicit compute_meter(double weight = 0.05);

  // One step that had the worker to itself: `rtt_ms` the probed round trip,
  // `transfer_ms` its bytes in and out at the probed bandwidth. Only decode
  // steps (one position) count; a range other than the one measured so far
  // restarts the compute average (not the round trip's).
  void step(uint32_t layer_begin, uint32_t layer_end, uint32_t positions, double wall_ms, double reported_ms,
            double rtt_ms, double transfer_ms);

  double ms_per_position() const { return ms_; }  // 0: nothing measured yet
  uint32_t layer_begin() const { return begin_; }
  uint32_t layer_end() const { return end_; }
  // EWMA of W - r - T: the round trip the steps leave room for (nullopt
  // before the first step).
  std::optional<double> step_rtt_ms() const;
  // The round trip to plan with: the smaller of `probed_rtt_ms` and step_rtt_ms().
  double rtt_ms(double probed_rtt_ms) const;
  uint64_t steps() const { return steps_; }

private:
  double weight_;
  double ms_ = 0;
  double step_rtt_ = 0;
  uint64_t rtt_steps_ = 0;
  uint32_t begin_ = 0, end_ = 0;
  uint64_t steps_ = 0;
};

}  // namespace tessera::actors
