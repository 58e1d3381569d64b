// The metrics registry and the node's live view (actors/metrics.hpp).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "actors/metrics.hpp"

using namespace tessera::actors;

TEST_CASE("a registry renders HELP, TYPE and every series in the text format", "[metrics]") {
  metrics_registry r;
  r.add_counter("t_requests_total", "Requests.\nBy outcome \\ kind.", {{"outcome", "ok"}}).inc(3);
  r.add_counter("t_requests_total", "Requests.\nBy outcome \\ kind.", {{"outcome", "a \"b\"\\c\nd"}}).inc();
  r.add_gauge("t_depth", "Depth.").set(-2);
  auto& h = r.add_histogram("t_seconds", "Latency.", {0.5, 1}, {{"stage", "0"}});
  h.observe(0.25);
  h.observe(0.5);  // on a bound: counted in that bucket (le is inclusive)
  h.observe(4);
  CHECK(r.render() ==
        "# HELP t_depth Depth.\n# TYPE t_depth gauge\nt_depth -2\n"
        "# HELP t_requests_total Requests.\\nBy outcome \\\\ kind.\n# TYPE t_requests_total counter\n"
        "t_requests_total{outcome=\"ok\"} 3\nt_requests_total{outcome=\"a \\\"b\\\"\\\\c\\nd\"} 1\n"
        "# HELP t_seconds Latency.\n# TYPE t_seconds histogram\n"
        "t_seconds_bucket{stage=\"0\",le=\"0.5\"} 2\nt_seconds_bucket{stage=\"0\",le=\"1\"} 2\n"
        "t_seconds_bucket{stage=\"0\",le=\"+Inf\"} 3\nt_seconds_sum{stage=\"0\"} 4.75\n"
        "t_seconds_count{stage=\"0\"} 3\n");
}

TEST_CASE("registering the same name and labels again returns the same series", "[metrics]") {
  metrics_registry r;
  auto& a = r.add_counter("t_hits_total", "Hits.");
  auto& b = r.add_counter("t_hits_total", "Hits.");
  CHECK(&a == &b);
  auto& c = r.add_counter("t_hits_total", "Hits.", {{"kind", "x"}});
  CHECK(&a != &c);
}

TEST_CASE("sample values are written as Prometheus reads them", "[metrics]") {
  CHECK(format_sample_value(0.1) == "0.1");
  CHECK(format_sample_value(2.5) == "2.5");
  CHECK(format_sample_value(30) == "30");
  CHECK(format_sample_value(1.0 / 3) == "0.3333333333333333");
  CHECK(format_sample_value(1e300 * 1e300) == "+Inf");
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("bad registrations are refused, naming what is wrong", "[metrics]") {
  metrics_registry r;
  r.add_counter("t_x_total", "X.");
  CHECK_THROWS_WITH(r.add_gauge("t_x_total", "X."), Catch::Contains("t_x_total is already registered as a counter"));
  CHECK_THROWS_WITH(r.add_counter("t_x_total", "Other help."), Catch::Contains("already registered"));
  CHECK_THROWS_WITH(r.add_counter("9lives_total", "N."), Catch::Contains("bad metric name \"9lives_total\""));
  CHECK_THROWS_WITH(r.add_counter("t_y_total", "Y.", {{"bad-label", "v"}}), Catch::Contains("bad label name \"bad-label\""));
  CHECK_THROWS_WITH(r.add_histogram("t_h", "H.", {1}, {{"le", "1"}}), Catch::Contains("bad label name \"le\""));
  CHECK_THROWS_WITH(r.add_histogram("t_h", "H.", {1, 1}), Catch::Contains("do not ascend at 1"));
}

TEST_CASE("counters and histograms lose no update under concurrent threads", "[metrics]") {
  metrics_registry r;
  auto& c = r.add_counter("t_n_total", "N.");
  auto& h = r.add_histogram("t_v", "V.", {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 ? 1.0 : 0.0);
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(c.value() == 40000);
  auto snap = h.read();
  CHECK(snap.count == 40000);
  CHECK(snap.cumulative == std::vector<uint64_t>{20000, 40000});
  CHECK(snap.sum == 20000.0);
}

TEST_CASE("the node's hooks count a request once, by outcome, with its tokens and queue time", "[metrics]") {
  node_metrics m;
  auto value = [&](const std::string& series) {
    auto text = m.registry.render();
    auto at = text.find("\n" + series + " ");
    REQUIRE(at != std::string::npos);
    return std::stoll(text.substr(at + series.size() + 2));
  };
  m.request_started(7);
  CHECK(value("tessera_queue_depth") == 1);
  m.request_waiting(7, false);
  CHECK(value("tessera_queue_depth") == 0);
  m.token(7);
  m.token(7);
  m.token(7);
  m.request_waiting(7, true);  // lost a stage
  m.recovered(7, "stage worker 2 went down");
  auto live = nlohmann::json::parse(m.live_json());
  CHECK(live["requests"].size() == 1);
  CHECK(live["requests"][0]["tokens"] == 3);
  CHECK(live["requests"][0]["state"] == "waiting");
  CHECK(live["latency"]["ttft_ms"]["n"] == 1);
  CHECK(live["latency"]["per_token_ms"]["n"] == 2);
  CHECK(live["timeline"].back()["kind"] == "recovery");
  m.request_ended(7, "cancelled");
  m.request_ended(7, "failed");  // counted once
  CHECK(value("tessera_requests_total{outcome=\"cancelled\"}") == 1);
  CHECK(value("tessera_requests_total{outcome=\"failed\"}") == 0);
  CHECK(value("tessera_queue_depth") == 0);
  CHECK(value("tessera_requests_active") == 0);
  CHECK(value("tessera_tokens_generated_total") == 3);
  CHECK(value("tessera_time_to_first_token_seconds_count") == 1);
  CHECK(value("tessera_time_per_output_token_seconds_count") == 2);
  CHECK(value("tessera_recoveries_total") == 1);
}
