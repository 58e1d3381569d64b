// /metrics series of each worker's measured link and compute (actors/plan_view.hpp).
#include <catch2/catch.hpp>

#include "actors/plan_view.hpp"

using namespace tessera::actors;

TEST_CASE("each worker's measured link and compute are /metrics gauges labelled with its id") {
  planner_view v;
  worker_view measured;
  measured.id = 3;
  measured.link = {1.5, 2.5e8};
  measured.link_measured = true;
  measured.compute_ms_per_position = 4;
  measured.planned_flops_per_s = 2e9;
  worker_view fresh;  // joined, nothing measured yet: the configured assumption is not a measurement
  fresh.id = 7;
  fresh.link = {0.2, 1e9};
  fresh.planned_flops_per_s = 1e9;
  v.workers = {measured, fresh};
  auto text = worker_link_metrics_text(v);
  CHECK(text.find("# TYPE tessera_worker_link_rtt_seconds gauge\ntessera_worker_link_rtt_seconds{worker=\"3\"} 0.0015\n") !=
        std::string::npos);
  CHECK(text.find("tessera_worker_link_bytes_per_second{worker=\"3\"} 250000000\n") != std::string::npos);
  CHECK(text.find("tessera_worker_compute_seconds_per_position{worker=\"3\"} 0.004\n") != std::string::npos);
  CHECK(text.find("tessera_worker_planned_flops{worker=\"7\"} 1000000000\n") != std::string::npos);
  CHECK(text.find("link_rtt_seconds{worker=\"7\"}") == std::string::npos);
  CHECK(text.find("compute_seconds_per_position{worker=\"7\"}") == std::string::npos);
  CHECK(worker_link_metrics_text(planner_view{}).empty());
}
