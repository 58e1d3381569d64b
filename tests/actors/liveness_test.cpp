// The adaptive liveness detector (actors/liveness.hpp): pure, times passed in.
#include <catch2/catch.hpp>

#include <random>

#include "actors/liveness.hpp"

using tessera::actors::liveness;
using ms = std::chrono::milliseconds;

namespace {

liveness::options bounds(int lower, int upper) {
  liveness::options o;
  o.lower_bound = ms(lower);
  o.upper_bound = ms(upper);
  return o;
}

}  // namespace

TEST_CASE("a worker not heard from enough yet gets the whole configured bound", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 1500), t0);
  l.beat(t0 + ms(10));
  l.beat(t0 + ms(20));
  CHECK(l.samples() == 2);
  CHECK(l.limit() == ms(1500));
  CHECK_FALSE(l.dead(t0 + ms(20) + ms(1500)));
  CHECK(l.dead(t0 + ms(20) + ms(1501)));
}

TEST_CASE("regular heartbeats shorten the limit below the bound, and a hung worker is dropped sooner", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 10000), t0);
  auto t = t0;
  for (int i = 0; i < 50; ++i)
    l.beat(t += ms(150));
  CHECK(l.mean_gap_ms() == Approx(150));
  // mean 150 ms, spread floored at 50 ms, phi 8: about 150 + 5.6 * 50 ms
  CHECK(l.limit() > ms(300));
  CHECK(l.limit() < ms(600));
  CHECK_FALSE(l.dead(t + ms(250)));
  CHECK(l.dead(t + ms(600)));
  CHECK(l.phi(ms(150)) < 1);
  CHECK(l.phi(ms(600)) > 8);
}

TEST_CASE("irregular gaps (a starved machine) widen the limit, never past the configured bound", "[liveness]") {
  auto t0 = liveness::clock::now();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> gap(50, 900);
  liveness steady(bounds(100, 1500), t0), bursty(bounds(100, 1500), t0);
  auto a = t0, b = t0;
  for (int i = 0; i < 100; ++i) {
    steady.beat(a += ms(150));
    bursty.beat(b += ms(gap(rng)));
  }
  CHECK(bursty.limit() > steady.limit());
  CHECK(bursty.limit() == ms(1500));
  CHECK(bursty.dead(b + ms(1501)));
}

TEST_CASE("suspicion grows with silence and the limit is where it crosses the threshold", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(1, 100000), t0);
  auto t = t0;
  for (int i = 0; i < 100; ++i)
    l.beat(t += ms(i % 2 ? 100 : 300));
  double last = -1;
  for (int s = 0; s < 2000; s += 50) {
    CHECK(l.phi(ms(s)) >= last);
    last = l.phi(ms(s));
  }
  auto lim = l.limit();
  CHECK(l.phi(lim - ms(5)) < 8);
  CHECK(l.phi(lim + ms(5)) >= 8);
}

TEST_CASE("the window forgets old gaps: after a slow spell, fast beats bring the limit back down", "[liveness]") {
  auto t0 = liveness::clock::now();
  auto o = bounds(100, 5000);
  o.window = 20;
  liveness l(o, t0);
  auto t = t0;
  for (int i = 0; i < 20; ++i)
    l.beat(t += ms(1000));
  auto slow = l.limit();
  for (int i = 0; i < 20; ++i)
    l.beat(t += ms(100));
  CHECK(l.mean_gap_ms() == Approx(100));
  CHECK(l.limit() < slow);
  CHECK(l.limit() < ms(500));
}

TEST_CASE("the limit never drops below the lower bound", "[liveness]") {
  auto t0 = liveness::clock::now();
  auto o = bounds(400, 3000);
  o.min_stddev = ms(1);
  liveness l(o, t0);
  auto t = t0;
  for (int i = 0; i < 50; ++i)
    l.beat(t += ms(10));
  CHECK(l.limit() == ms(400));
  CHECK_FALSE(l.dead(t + ms(400)));
  CHECK(l.dead(t + ms(401)));
}

TEST_CASE("a sign of life from the past is ignored and silence is never negative", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 1000), t0 + ms(500));
  l.beat(t0);
  l.heard(t0);
  CHECK(l.samples() == 0);
  CHECK(l.silence(t0) == ms(0));
  CHECK(l.silence(t0 + ms(700)) == ms(200));
}

TEST_CASE("results between heartbeats end a silence but do not shrink the limit", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 10000), t0);
  auto t = t0;
  for (int i = 0; i < 20; ++i) {
    for (int k = 1; k < 15; ++k)
      l.heard(t + ms(10 * k));  // a step result every 10 ms
    l.beat(t += ms(150));
  }
  CHECK(l.samples() == 20);
  CHECK(l.mean_gap_ms() == Approx(150));
  auto limit = l.limit();
  CHECK(limit > ms(300));
  l.heard(t + ms(limit.count() - 10));  // a result just before the limit: alive again
  CHECK_FALSE(l.dead(t + limit + ms(5)));
  CHECK(l.dead(t + ms(limit.count() - 10) + limit + ms(1)));
}

TEST_CASE("bad options are refused, naming the value", "[liveness]") {
  auto t0 = liveness::clock::now();
  CHECK_THROWS_WITH(liveness(bounds(100, 0), t0), Catch::Contains("upper_bound 0 ms"));
  CHECK_THROWS_WITH(liveness(bounds(2000, 1000), t0), Catch::Contains("lower_bound 2000 ms"));
  auto o = bounds(100, 1000);
  o.phi_threshold = 0;
  CHECK_THROWS_WITH(liveness(o, t0), Catch::Contains("phi_threshold 0"));
  o = bounds(100, 1000);
  o.window = 1;
  CHECK_THROWS_WITH(liveness(o, t0), Catch::Contains("window 1"));
}

TEST_CASE("a late observer (a stalled node) adds its lateness to the tolerated silence, never past the bound", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 1500), t0);
  auto t = t0;
  for (int i = 0; i < 50; ++i)
    l.beat(t += ms(150));
  auto limit = l.limit();
  REQUIRE(limit < ms(600));
  CHECK(l.tolerated(t) == limit);
  CHECK(l.dead(t + limit + ms(300)));
  // The node's check ran 700 ms late: its own stall does not count against the worker.
  l.observer_late(t + ms(200), ms(700));
  CHECK(l.tolerated(t + ms(200)) == limit + ms(700));
  CHECK_FALSE(l.dead(t + limit + ms(300)));
  CHECK(l.dead(t + limit + ms(701)));
  // A smaller lag later does not shrink it; on time again, it is forgotten after the bound.
  l.observer_late(t + ms(400), ms(50));
  CHECK(l.tolerated(t + ms(400)) == limit + ms(700));
  l.observer_late(t + ms(400), ms(-20));
  CHECK(l.tolerated(t + ms(200) + ms(1501)) == limit);
}

TEST_CASE("however late the observer, a silent worker is dropped past the configured bound", "[liveness]") {
  auto t0 = liveness::clock::now();
  liveness l(bounds(100, 1500), t0);
  auto t = t0;
  for (int i = 0; i < 50; ++i)
    l.beat(t += ms(150));
  l.observer_late(t + ms(100), ms(5000));
  CHECK(l.tolerated(t + ms(100)) == ms(1500));
  CHECK_FALSE(l.dead(t + ms(1500)));
  CHECK(l.dead(t + ms(1501)));
}
