#include "actors/liveness.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tessera::actors {

namespace {

// P(a normal gap exceeds mean + z*sd).
double tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// The z where -log10(tail(z)) == threshold (tail is decreasing in z).
double z_for(double threshold) {
  double target = std::pow(10.0, -threshold);
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    double mid = (lo + hi) / 2;
    (tail(mid) > target ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace

liveness::liveness(options opts, clock::time_point now) : opts_(opts), last_(now), last_beat_(now) {
  if (opts_.upper_bound.count() <= 0)
    throw std::invalid_argument("liveness: upper_bound " + std::to_string(opts_.upper_bound.count()) +
                                " ms is not positive");
  if (opts_.lower_bound.count() <= 0 || opts_.lower_bound > opts_.upper_bound)
    throw std::invalid_argument("liveness: lower_bound " + std::to_string(opts_.lower_bound.count()) +
                                " ms is not in (0, upper_bound " + std::to_string(opts_.upper_bound.count()) +
                                " ms]");
  if (!(opts_.phi_threshold > 0))
    throw std::invalid_argument("liveness: phi_threshold " + std::to_string(opts_.phi_threshold) +
                                " is not positive");
  if (opts_.min_samples < 2 || opts_.window < opts_.min_samples)
    throw std::invalid_argument("liveness: window " + std::to_string(opts_.window) + " and min_samples " +
                                std::to_string(opts_.min_samples) + " need 2 <= min_samples <= window");
  z_ = z_for(opts_.phi_threshold);
}

void liveness::heard(clock::time_point now) { last_ = std::max(last_, now); }

void liveness::beat(clock::time_point now) {
  if (now < last_beat_)
    return;
  double gap = std::chrono::duration<double, std::milli>(now - last_beat_).count();
  last_beat_ = now;
  heard(now);
  gaps_.push_back(gap);
  sum_ += gap;
  sum_sq_ += gap * gap;
  if (gaps_.size() > opts_.window) {
    double old = gaps_.front();
    gaps_.pop_front();
    sum_ -= old;
    sum_sq_ -= old * old;
  }
}

double liveness::mean_gap_ms() const { return gaps_.empty() ? 0.0 : sum_ / static_cast<double>(gaps_.size()); }

double liveness::stddev_ms() const {
  double n = static_cast<double>(gaps_.size());
  double mean = mean_gap_ms();
  double var = n > 1 ? std::max(0.0, (sum_sq_ - n * mean * mean) / (n - 1)) : 0.0;
  return std::max(std::sqrt(var), static_cast<double>(opts_.min_stddev.count()));
}

double liveness::phi(ms silence) const {
  if (gaps_.size() < opts_.min_samples)
    return silence > opts_.upper_bound ? std::numeric_limits<double>::infinity() : 0.0;
  double z = (static_cast<double>(silence.count()) - mean_gap_ms()) / stddev_ms();
  double p = tail(z);
  return p <= 0 ? std::numeric_limits<double>::infinity() : -std::log10(p);
}

liveness::ms liveness::limit() const {
  if (gaps_.size() < opts_.min_samples)
    return opts_.upper_bound;
  double t = mean_gap_ms() + z_ * stddev_ms();
  auto at = ms(static_cast<int64_t>(std::ceil(t)));
  return std::clamp(at, opts_.lower_bound, opts_.upper_bound);
}

liveness::ms liveness::silence(clock::time_point now) const {
  return now <= last_ ? ms(0) : std::chrono::duration_cast<ms>(now - last_);
}

void liveness::observer_late(clock::time_point now, ms lag) {
  if (lag <= ms(0))
    return;
  bool stale = now - late_at_ > opts_.upper_bound;
  if (stale || lag >= late_) {
    late_ = lag;
    late_at_ = now;
  }
}

liveness::ms liveness::tolerated(clock::time_point now) const {
  auto lag = now - late_at_ > opts_.upper_bound ? ms(0) : late_;
  return std::min(limit() + lag, opts_.upper_bound);
}

bool liveness::dead(clock::time_point now) const { return silence(now) > tolerated(now); }

}  // namespace tessera::actors
