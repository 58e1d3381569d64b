#include "actors/link_meter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tessera::actors {

link_meter::link_meter(link_meter_options opts, uint64_t seed) : opts_(opts), rng_(seed) {
  if (opts_.small_bytes == 0 || opts_.large_bytes <= opts_.small_bytes)
    throw std::invalid_argument("link probe sizes: small " + std::to_string(opts_.small_bytes) + " B must be > 0 and below large " +
                                std::to_string(opts_.large_bytes) + " B");
  if (opts_.burst == 0)
    throw std::invalid_argument("link probe burst must be at least 1, got 0");
  if (!(opts_.weight > 0 && opts_.weight <= 1))
    throw std::invalid_argument("link EWMA weight must be in (0, 1], got " + std::to_string(opts_.weight));
  if (!(opts_.max_bytes_per_s > 0))
    throw std::invalid_argument("link max_bytes_per_s must be positive, got " + std::to_string(opts_.max_bytes_per_s));
}

std::optional<link_meter::probe> link_meter::next(double now_ms) {
  if (in_flight_)
    return std::nullopt;
  const uint32_t per_size = burst_done_ ? 1 : opts_.burst;
  if (sent_small_ == 0 && sent_large_ == 0) {  // a new round
    if (burst_done_ && (opts_.interval_ms == 0 || now_ms < next_round_ms_))
      return std::nullopt;
  }
  // Small probes first, then large ones.
  const bool large = sent_small_ >= per_size;
  if (large && sent_large_ >= per_size)
    return std::nullopt;  // the round is complete (learn_round() resets it)
  probe p;
  p.seq = next_seq_++;
  p.payload.resize(large ? opts_.large_bytes : opts_.small_bytes);
  for (size_t i = 0; i < p.payload.size(); i += 8) {
    uint64_t r = rng_();
    for (size_t k = 0; k < 8 && i + k < p.payload.size(); ++k)
      p.payload[i + k] = static_cast<char>((r >> (8 * k)) & 0xff);
  }
  (large ? sent_large_ : sent_small_) += 1;
  in_flight_ = p;
  in_flight_large_ = large;
  sent_ms_ = now_ms;
  return p;
}

bool link_meter::echoed(uint64_t seq, const std::string& payload, double now_ms) {
  if (!in_flight_ || in_flight_->seq != seq || in_flight_->payload != payload)
    return false;
  const double rtt = std::max(0.0, now_ms - sent_ms_);
  double& best = in_flight_large_ ? round_large_ms_ : round_small_ms_;
  best = best < 0 ? rtt : std::min(best, rtt);
  in_flight_.reset();
  ++echoes_;
  const uint32_t per_size = burst_done_ ? 1 : opts_.burst;
  if (sent_small_ >= per_size && sent_large_ >= per_size) {
    learn_round();
    next_round_ms_ = now_ms + opts_.interval_ms;
  }
  return true;
}

bool link_meter::expire(double now_ms, double timeout_ms) {
  if (!in_flight_ || now_ms - sent_ms_ < timeout_ms)
    return false;
  in_flight_.reset();
  // The round is abandoned; the next one starts after an interval (or at once
  // while the burst is not done, as the join burst is what the plan waits for).
  sent_small_ = sent_large_ = 0;
  round_small_ms_ = round_large_ms_ = -1;
  next_round_ms_ = now_ms + opts_.interval_ms;
  return true;
}

// One round's fastest small and large echoes: the small one is the RTT sample,
// the difference is the time of (large - small) bytes each way.
void link_meter::learn_round() {
  const double rtt = round_small_ms_;
  const double extra_ms = std::max(0.0, round_large_ms_ - round_small_ms_);
  const double bytes_both_ways = 2.0 * (opts_.large_bytes - opts_.small_bytes);
  const double floor_ms_per_byte = 1000.0 / opts_.max_bytes_per_s;
  const double per_byte = std::max(floor_ms_per_byte, extra_ms / bytes_both_ways);
  if (!est_.measured) {
    est_.rtt_ms = rtt;
    ms_per_byte_ = per_byte;
    est_.measured = true;
  } else {
    est_.rtt_ms = (1 - opts_.weight) * est_.rtt_ms + opts_.weight * rtt;
    ms_per_byte_ = (1 - opts_.weight) * ms_per_byte_ + opts_.weight * per_byte;
  }
  est_.bytes_per_s = 1000.0 / ms_per_byte_;
  burst_done_ = true;
  sent_small_ = sent_large_ = 0;
  round_small_ms_ = round_large_ms_ = -1;
}

link_estimate link_meter::estimate() const {
  link_estimate e = est_;
  e.echoes = echoes_;
  return e;
}

double link_meter::transfer_ms(double bytes) const {
  return est_.measured && bytes > 0 ? bytes * ms_per_byte_ : 0;
}

compute_meter::compute_meter(double weight) : weight_(weight) {
  if (!(weight > 0 && weight <= 1))
    throw std::invalid_argument("compute EWMA weight must be in (0, 1], got " + std::to_string(weight));
}

void compute_meter::step(uint32_t layer_begin, uint32_t layer_end, uint32_t positions, double wall_ms, double reported_ms,
                         double rtt_ms, double transfer_ms) {
  if (positions != 1 || layer_end <= layer_begin || !std::isfinite(wall_ms) || wall_ms < 0)
    return;
  const double reported = std::isfinite(reported_ms) ? std::max(0.0, reported_ms) : 0.0;
  const double compute = std::max(wall_ms - rtt_ms - transfer_ms, reported);
  const double rtt = std::max(0.0, wall_ms - reported - transfer_ms);
  ++rtt_steps_;
  const double wr = std::max(weight_, 1.0 / static_cast<double>(rtt_steps_));
  step_rtt_ = (1 - wr) * step_rtt_ + wr * rtt;
  if (steps_ == 0 || layer_begin != begin_ || layer_end != end_) {
    begin_ = layer_begin;
    end_ = layer_end;
    ms_ = 0;
    steps_ = 0;
  }
  ++steps_;
  const double wc = std::max(weight_, 1.0 / static_cast<double>(steps_));
  ms_ = (1 - wc) * ms_ + wc * compute;
}

std::optional<double> compute_meter::step_rtt_ms() const {
  if (rtt_steps_ == 0)
    return std::nullopt;
  return step_rtt_;
}

double compute_meter::rtt_ms(double probed_rtt_ms) const {
  return rtt_steps_ == 0 ? probed_rtt_ms : std::min(probed_rtt_ms, step_rtt_);
}

}  // namespace tessera::actors
