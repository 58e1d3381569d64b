// Measured links and speeds (actors/link_meter.hpp) and the re-plan trigger
// (actors/stage_drift.hpp): pure, times passed in. The "worker" here is a
// simulated link: an echo arrives rtt + bytes both ways / bandwidth after its probe.
#include <catch2/catch.hpp>

#include <map>

#include "actors/link_meter.hpp"
#include "actors/stage_drift.hpp"

using namespace tessera::actors;

namespace {

// Answers every probe the meter sends on a link of `rtt_ms` and `bytes_per_s`
// (plus `delay_ms` the worker adds), until the meter has nothing to send at `t`.
double run_link(link_meter& m, double& t, double rtt_ms, double bytes_per_s, double delay_ms = 0) {
  int echoes = 0;
  while (auto p = m.next(t)) {
    t += rtt_ms + 2.0 * static_cast<double>(p->payload.size()) / bytes_per_s * 1000.0 + delay_ms;
    REQUIRE(m.echoed(p->seq, p->payload, t));
    ++echoes;
  }
  return echoes;
}

link_meter_options every(uint32_t interval_ms) {
  link_meter_options o;
  o.interval_ms = interval_ms;
  return o;
}

}  // namespace

TEST_CASE("the join burst measures a link's round trip and bandwidth", "[link_meter]") {
  link_meter m(every(0), 7);
  CHECK_FALSE(m.estimate().measured);
  double t = 0;
  CHECK(run_link(m, t, 5.0, 10e6) == 6);  // 3 small + 3 large
  auto e = m.estimate();
  REQUIRE(e.measured);
  CHECK(e.rtt_ms == Approx(5.0 + 2 * 64 / 10e6 * 1000).epsilon(1e-9));
  CHECK(e.bytes_per_s == Approx(10e6).epsilon(1e-6));
  CHECK(m.transfer_ms(1e6) == Approx(100.0).epsilon(1e-6));
  CHECK_FALSE(m.next(t + 1e9));  // interval 0: nothing after the burst
}

TEST_CASE("a bandwidth too high to resolve is taken as the configured maximum", "[link_meter]") {
  link_meter_options o = every(0);
  o.max_bytes_per_s = 5e9;
  link_meter m(o, 1);
  double t = 0;
  run_link(m, t, 0.2, 1e15);
  CHECK(m.estimate().bytes_per_s == Approx(5e9));
}

TEST_CASE("an echo that does not return the probe's bytes, or answers no probe, is not a measurement", "[link_meter]") {
  link_meter m(every(0), 3);
  auto p = m.next(0);
  REQUIRE(p);
  CHECK_FALSE(m.next(0));  // one probe in flight at a time
  std::string forged = p->payload;
  forged[0] = static_cast<char>(forged[0] ^ 1);
  CHECK_FALSE(m.echoed(p->seq, forged, 0.01));      // answered before reading it: wrong bytes
  CHECK_FALSE(m.echoed(p->seq + 1, p->payload, 0.01));  // wrong sequence number
  CHECK(m.estimate().echoes == 0);
  CHECK(m.echoed(p->seq, p->payload, 1.0));
  CHECK_FALSE(m.echoed(p->seq, p->payload, 1.1));  // a replay of an answered probe
  CHECK(m.estimate().echoes == 1);
}

TEST_CASE("a worker that delays its echoes only looks slower", "[link_meter]") {
  link_meter honest(every(0), 5), slow(every(0), 5);
  double t1 = 0, t2 = 0;
  run_link(honest, t1, 1.0, 50e6);
  run_link(slow, t2, 1.0, 50e6, 4.0);
  CHECK(slow.estimate().rtt_ms > honest.estimate().rtt_ms + 3.9);
  CHECK(slow.estimate().bytes_per_s <= honest.estimate().bytes_per_s * 1.000001);
}

TEST_CASE("periodic rounds follow a link that changes", "[link_meter]") {
  link_meter m(every(1000), 9);
  double t = 0;
  run_link(m, t, 1.0, 100e6);
  CHECK(m.estimate().rtt_ms == Approx(1.0).epsilon(0.01));
  CHECK_FALSE(m.next(t + 10));  // the next round is not due yet
  for (int round = 0; round < 30; ++round) {
    t += 1000;
    CHECK(run_link(m, t, 21.0, 100e6) == 2);  // one small, one large
  }
  CHECK(m.estimate().rtt_ms == Approx(21.0).epsilon(0.01));
}

TEST_CASE("an unanswered probe expires and the next round goes out an interval later", "[link_meter]") {
  link_meter m(every(500), 2);
  double t = 0;
  run_link(m, t, 1.0, 100e6);
  t += 500;
  auto p = m.next(t);
  REQUIRE(p);
  CHECK_FALSE(m.expire(t + 100, 3000));
  CHECK(m.expire(t + 3000, 3000));
  CHECK_FALSE(m.echoed(p->seq, p->payload, t + 3001));  // too late: forgotten
  CHECK_FALSE(m.next(t + 3100));                        // waits an interval
  auto again = m.next(t + 3500);
  REQUIRE(again);
  CHECK(again->seq != p->seq);
}

TEST_CASE("link meter options out of range are refused with the value", "[link_meter]") {
  link_meter_options o;
  o.large_bytes = 64;
  CHECK_THROWS_WITH(link_meter(o, 1), Catch::Contains("small 64 B") && Catch::Contains("large 64 B"));
  o = {};
  o.weight = 0;
  CHECK_THROWS_WITH(link_meter(o, 1), Catch::Contains("weight"));
  CHECK_THROWS_WITH(compute_meter(1.5), Catch::Contains("1.5"));
}

TEST_CASE("compute is the wall time less the probed link, and a report can only raise it", "[compute_meter]") {
  compute_meter c(1.0);  // weight 1: the newest step alone
  CHECK_FALSE(c.step_rtt_ms());
  CHECK(c.rtt_ms(2.0) == 2.0);      // no step yet: the probes' figure
  c.step(0, 4, 1, 12.0, 9.5, 1.5, 0.5);  // honest: wall 12 = rtt 1.5 + bytes 0.5 + compute 10 (0.5 of it unreported)
  CHECK(c.ms_per_position() == Approx(10.0));
  CHECK(c.rtt_ms(1.5) == Approx(1.5));  // the steps leave 2 ms for the round trip: the probe's 1.5 stands
  c.step(0, 4, 1, 12.0, 1.0, 1.5, 0.5);  // under-reports compute: the node's figure stands, the link too
  CHECK(c.ms_per_position() == Approx(10.0));
  CHECK(c.rtt_ms(1.5) == Approx(1.5));
  c.step(0, 4, 1, 12.0, 11.0, 1.5, 0.5);  // reports more than the wall leaves: compute rises, the round trip falls as much
  CHECK(c.ms_per_position() == Approx(11.0));
  CHECK(c.rtt_ms(1.5) == Approx(0.5));
  CHECK(c.ms_per_position() + c.rtt_ms(1.5) + 0.5 == Approx(12.0));  // still the wall time in all
}

TEST_CASE("the round trip to plan with is what steps show when probes of an idle worker came back late", "[compute_meter]") {
  compute_meter c(0.5);
  for (int i = 0; i < 20; ++i)
    c.step(0, 2, 1, 3.0, 2.4, 2.5, 0.1);  // probes said 2.5 ms (an idle worker woken late); the steps leave 0.5
  REQUIRE(c.step_rtt_ms());
  CHECK(*c.step_rtt_ms() == Approx(0.5));
  CHECK(c.rtt_ms(2.5) == Approx(0.5));
  CHECK(c.ms_per_position() == Approx(2.4));  // the report, since wall - probed link leaves less
}

TEST_CASE("the first steps after a restart are a plain mean, then the average forgets slowly", "[compute_meter]") {
  compute_meter c(0.1);
  c.step(0, 4, 1, 50.0, 0, 0, 0);  // a stalled first step
  for (int i = 0; i < 9; ++i)
    c.step(0, 4, 1, 10.0, 0, 0, 0);
  CHECK(c.ms_per_position() == Approx(14.0));  // (50 + 9 * 10) / 10
  for (int i = 0; i < 60; ++i)
    c.step(0, 4, 1, 10.0, 0, 0, 0);
  CHECK(c.ms_per_position() == Approx(10.0).epsilon(0.01));
  c.step(0, 4, 1, 110.0, 0, 0, 0);  // one stall moves it by a tenth of itself
  CHECK(c.ms_per_position() == Approx(20.0).epsilon(0.01));
}

TEST_CASE("only decode steps count, and a new range restarts the average", "[compute_meter]") {
  compute_meter c(0.5);
  c.step(0, 4, 8, 80.0, 70.0, 2.0, 0);  // prefill
  CHECK(c.ms_per_position() == 0);
  CHECK_FALSE(c.step_rtt_ms());
  c.step(0, 4, 1, 10.0, 0, 2.0, 0);
  c.step(0, 4, 1, 14.0, 0, 2.0, 0);
  CHECK(c.ms_per_position() == Approx(10.0));  // (8 + 12) / 2
  CHECK(c.steps() == 2);
  c.step(4, 8, 1, 5.0, 0, 1.0, 0);
  CHECK(c.ms_per_position() == Approx(4.0));
  CHECK(c.layer_begin() == 4);
  CHECK(c.layer_end() == 8);
}

TEST_CASE("a serving worker drifts only when its change outlasts the hysteresis", "[stage_drift]") {
  stage_drift d(0.25, 3);
  std::map<uint64_t, stage_prediction> base{{1, {0, 4, 10.0}}, {2, {4, 8, 10.0}}};
  d.rebase(base);
  auto slow = base;
  slow[2].ms = 20.0;
  CHECK_FALSE(d.observe(slow));
  CHECK_FALSE(d.observe(base));  // noise: back within the margin, the streak restarts
  CHECK_FALSE(d.observe(slow));
  CHECK_FALSE(d.observe(slow));
  auto why = d.observe(slow);
  REQUIRE(why);
  CHECK(*why == "worker 2 stage [4,8) 10.00 ms -> 20.00 ms per token");
  CHECK_FALSE(d.observe(slow));  // rebased on the slow figure: no flapping
  auto small = slow;
  small[1].ms = 12.0;  // 20 %: within the margin
  for (int i = 0; i < 10; ++i)
    CHECK_FALSE(d.observe(small));
}

TEST_CASE("a worker with a new range or new to the plan starts a new baseline", "[stage_drift]") {
  stage_drift d(0.1, 1);
  d.rebase({{1, {0, 4, 10.0}}});
  CHECK_FALSE(d.observe({{1, {0, 6, 30.0}}, {3, {6, 8, 1.0}}}));
  CHECK(d.observe({{1, {0, 6, 40.0}}, {3, {6, 8, 1.0}}}));
}

TEST_CASE("a threshold of 0 never re-plans, and bad settings name their value", "[stage_drift]") {
  stage_drift off(0, 1);
  off.rebase({{1, {0, 4, 1.0}}});
  CHECK_FALSE(off.observe({{1, {0, 4, 100.0}}}));
  CHECK_THROWS_WITH(stage_drift(-1, 1), Catch::Contains("-1"));
  CHECK_THROWS_WITH(stage_drift(0.2, 0), Catch::Contains("replan_change_polls"));
}
