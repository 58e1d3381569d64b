// Is a worker still alive? An adaptive silence limit in the style of the
// phi-accrual failure detector (Hayashibara et al.). The gaps between the
// worker's heartbeats are modelled as a normal distribution over a sliding
// window, and phi(t) = -log10 P(a gap longer than t) says how suspicious t ms of
// silence is; any other frame (a step's result or progress) also ends a silence
// but does not enter the model, so a burst of results does not make the
// detector expect frames every few milliseconds. The worker is declared dead
// once phi passes a threshold, and in any case once the silence passes the
// configured upper bound, so a hung worker (SIGSTOP, a hung tab) is dropped
// within that bound while a worker whose beats arrive irregularly (a busy
// machine) is given the slack its own history asks for, up to the bound. When
// the observer itself runs late (its check fired after it was due: the node
// stalled), that lateness is added to the tolerated silence, again never past
// the bound, so a stall of the node is not taken for a silent worker.
// Pure: times are passed in, nothing here reads a clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace tessera::actors {

class liveness {
public:
  using clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  struct options {
    ms upper_bound{3000};      // silence never tolerated longer than this
    ms lower_bound{100};       // silence always tolerated at least this long
    double phi_threshold = 8;  // declared dead above this suspicion (1e-8 chance of a live gap that long)
    ms min_stddev{50};         // floor of the gap spread, so a perfectly regular sender is not hair-triggered
    std::size_t window = 100;  // gaps remembered
    std::size_t min_samples = 3;  // below this many gaps the limit is the upper bound
  };

  // Throws std::invalid_argument naming the bad value (bounds not positive or
  // lower above upper, threshold not positive, window below min_samples).
  liveness(options opts, clock::time_point now);

  // A heartbeat at `now`: its gap from the previous heartbeat enters the model,
  // and the silence ends. Times must not go backwards (an earlier one is ignored).
  void beat(clock::time_point now);
  // Any other sign of life at `now`: the silence ends, the model is unchanged.
  void heard(clock::time_point now);

  // The suspicion after `silence` without a sign of life (0: none).
  double phi(ms silence) const;
  // The silence that the detector tolerates now: the point where phi reaches the
  // threshold, clamped to [lower_bound, upper_bound].
  ms limit() const;
  // The observer ran `lag` late at `now`: the check that reads this detector
  // fired that much after it was due (a stalled node process, starved
  // threads). The worker's frames may have waited unread as long, so for the
  // next upper_bound of time the tolerated silence grows by that lag (the
  // largest one reported meanwhile). Nothing enters the gap model.
  void observer_late(clock::time_point now, ms lag);
  // limit() plus the observer's recent lateness, never past upper_bound: a
  // silence the node itself caused does not count against the worker, and a
  // hung worker is still dropped within the bound.
  ms tolerated(clock::time_point now) const;
  // True when the silence since the last sign of life exceeds tolerated(now).
  bool dead(clock::time_point now) const;
  ms silence(clock::time_point now) const;

  std::size_t samples() const { return gaps_.size(); }
  double mean_gap_ms() const;

private:
  double stddev_ms() const;
  options opts_;
  clock::time_point last_;       // last sign of life
  clock::time_point last_beat_;  // last heartbeat (or the start)
  std::deque<double> gaps_;  // ms
  double sum_ = 0;
  double sum_sq_ = 0;
  double z_ = 0;  // standard deviations above the mean gap where phi reaches the threshold
  ms late_{0};    // the largest observer lag reported since late_at_
  clock::time_point late_at_;
};

}  // namespace tessera::actors
