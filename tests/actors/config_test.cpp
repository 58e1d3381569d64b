// The node config loader: the embedded default parses, and every kind of bad
// input is rejected with an error naming the key and the value.
#include <catch2/catch.hpp>

#include "actors/node_config.hpp"

using namespace tessera::actors;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_node_config(text, "test.toml");
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the embedded default config has three unequal local workers on the shipped model") {
  auto cfg = default_node_config();
  CHECK(cfg.from_hf == "models/kjv-bierce-19m");
  CHECK(cfg.model_dir == "build/models/kjv-bierce-19m");
  CHECK(cfg.preset.empty());
  REQUIRE(cfg.local_workers.size() == 3);
  CHECK(cfg.local_workers[0].memory_bytes != cfg.local_workers[1].memory_bytes);
  CHECK(cfg.local_workers[1].memory_bytes != cfg.local_workers[2].memory_bytes);
  CHECK(cfg.listen_host == "127.0.0.1");
}

TEST_CASE("a full config parses into the struct") {
  auto cfg = parse_node_config(R"(
[node]
listen = "0.0.0.0:0"
log_level = "debug"
port_file = "/tmp/p"
[model]
dir = "m"
context = 512
objective = "throughput"
[runtime]
heartbeat_ms = 200
heartbeat_timeout_ms = 1000
kept_inputs = "1MiB"
settle_ms = 50
migration = "immediate"
park_timeout_ms = 2000
standby = false
[[workers.local]]
memory = "2GB"
threads = 2
)", "t.toml");
  CHECK(cfg.listen_host == "0.0.0.0");
  CHECK(cfg.listen_port == 0);
  CHECK(cfg.log_level == "debug");
  CHECK(cfg.context == 512);
  CHECK(cfg.objective == "throughput");
  CHECK(cfg.kept_inputs_bytes == 1048576);
  CHECK(cfg.settle_ms == 50);
  CHECK(cfg.migration == "immediate");
  CHECK(cfg.park_timeout_ms == 2000);
  CHECK_FALSE(cfg.standby);
  REQUIRE(cfg.local_workers.size() == 1);
  CHECK(cfg.local_workers[0].memory_bytes == 2000000000ull);
  CHECK(cfg.local_workers[0].threads == 2);
  CHECK(cfg.local_workers[0].name == "local-0");
  CHECK(cfg.local_workers[0].restart);
}

TEST_CASE("a local worker's restart policy is always or never") {
  auto cfg = tessera::actors::parse_node_config("[[workers.local]]\nmemory = \"1GB\"\nrestart = \"never\"\n", "t.toml");
  REQUIRE(cfg.local_workers.size() == 1);
  CHECK_FALSE(cfg.local_workers[0].restart);
  auto e = error_of("[[workers.local]]\nmemory = \"1GB\"\nrestart = \"sometimes\"\n");
  CHECK(e.find("workers.local[0].restart") != std::string::npos);
  CHECK(e.find("sometimes") != std::string::npos);
}

TEST_CASE("the planner's assumptions and the shard budget come from [planner] and [node]") {
  auto defaults = default_node_config();
  CHECK(defaults.concurrent_sequences == 8);
  CHECK(defaults.scratch_bytes == 32ull << 20);
  CHECK(defaults.link_rtt_ms == 0.2);
  CHECK(defaults.link_bytes_per_s == 1e9);
  CHECK(defaults.first_plan_wait_ms == 15000);
  CHECK(defaults.shard_budget_bytes == 2000000000ull);
  auto cfg = parse_node_config(R"(
[node]
shard_budget = "500MB"
[planner]
concurrent_sequences = 2
scratch = "1MiB"
link_rtt_ms = 30
link_bandwidth = "10MB"
first_plan_wait_ms = 0
)", "t.toml");
  CHECK(cfg.shard_budget_bytes == 500000000ull);
  CHECK(cfg.concurrent_sequences == 2);
  CHECK(cfg.scratch_bytes == 1048576);
  CHECK(cfg.link_rtt_ms == 30.0);
  CHECK(cfg.link_bytes_per_s == 1e7);
  CHECK(cfg.first_plan_wait_ms == 0);
  CHECK(parse_node_config("[planner]\nlink_rtt_ms = 1.5\n", "t.toml").link_rtt_ms == 1.5);
}

TEST_CASE("bad planner values name the key and the value") {
  auto e = error_of("[planner]\nconcurrent_sequences = 0\n");
  CHECK(e.find("planner.concurrent_sequences") != std::string::npos);
  CHECK(e.find("value 0 out of range") != std::string::npos);
  e = error_of("[planner]\nlink_rtt_ms = -1.5\n");
  CHECK(e.find("planner.link_rtt_ms") != std::string::npos);
  CHECK(e.find("-1.5") != std::string::npos);
  e = error_of("[planner]\nlink_rtt_ms = \"fast\"\n");
  CHECK(e.find("planner.link_rtt_ms: expected a number") != std::string::npos);
  e = error_of("[planner]\nscratch = \"lots\"\n");
  CHECK(e.find("planner.scratch") != std::string::npos);
  CHECK(e.find("\"lots\"") != std::string::npos);
  e = error_of("[planner]\nlink_bandwidth = -5\n");
  CHECK(e.find("planner.link_bandwidth") != std::string::npos);
  CHECK(e.find("-5") != std::string::npos);
  e = error_of("[node]\nshard_budget = \"2XB\"\n");
  CHECK(e.find("node.shard_budget") != std::string::npos);
  CHECK(e.find("XB") != std::string::npos);
  CHECK(error_of("[planner]\nscratch_bytes = 5\n").find("planner.scratch_bytes: unknown key") != std::string::npos);
}

TEST_CASE("link probes and the re-plan trigger come from [planner], with documented defaults") {
  auto defaults = default_node_config();
  CHECK_FALSE(defaults.link_probe);  // opt-in until the cost model is accurate
  CHECK(defaults.link_probe_interval_ms == 2000);
  CHECK(defaults.link_probe_bytes == 65536);
  CHECK(defaults.replan_change == 0);
  CHECK(defaults.replan_change_polls == 3);
  CHECK(defaults.stability_margin == 0.1);
  auto cfg = parse_node_config(R"(
[planner]
stability_margin = 0.5
link_probe = true
link_probe_interval_ms = 0
link_probe_bytes = "1MiB"
replan_change = 0.4
replan_change_polls = 5
)", "t.toml");
  CHECK(cfg.link_probe);
  CHECK(cfg.link_probe_interval_ms == 0);
  CHECK(cfg.link_probe_bytes == 1048576);
  CHECK(cfg.replan_change == 0.4);
  CHECK(cfg.replan_change_polls == 5);
  CHECK(cfg.stability_margin == 0.5);
  CHECK(error_of("[planner]\nstability_margin = 1.5\n").find("planner.stability_margin") != std::string::npos);
  auto e = error_of("[planner]\nlink_probe_bytes = 100\n");
  CHECK(e.find("planner.link_probe_bytes: value 100 must be between 1KiB and 16MiB") != std::string::npos);
  e = error_of("[planner]\nreplan_change = -0.5\n");
  CHECK(e.find("planner.replan_change") != std::string::npos);
  CHECK(e.find("-0.5") != std::string::npos);
  CHECK(error_of("[planner]\nreplan_change_polls = 0\n").find("planner.replan_change_polls") != std::string::npos);
  CHECK(error_of("[planner]\nlink_probe = 1\n").find("planner.link_probe: expected true or false") != std::string::npos);
}

TEST_CASE("the limits table and node.allowed_origins set the hard limits, and the defaults are the documented ones") {
  const auto d = default_node_config();
  CHECK(d.max_prompt_bytes == (1u << 20));
  CHECK(d.max_json_depth == 64);
  CHECK(d.gateway.client_frame_bytes == (2u << 20));
  CHECK(d.gateway.worker_frame_bytes == (64u << 20));
  CHECK(d.gateway.client_send_queue_bytes == (8u << 20));
  CHECK(d.gateway.http_body_bytes == (2u << 20));
  CHECK(d.gateway.connections_per_ip == 256);
  CHECK(d.gateway.ws_idle_timeout_ms == 300000);
  CHECK(d.gateway.allowed_origins.empty());
  const auto cfg = parse_node_config(
      "[node]\nallowed_origins = [\"https://lab.example\"]\n"
      "[limits]\nmax_prompt_bytes = \"4KiB\"\nmax_json_depth = 8\nclient_frame = 5000\nworker_frame = \"1MB\"\n"
      "client_send_queue = \"64KiB\"\nworker_send_queue = \"2MB\"\nhttp_header = 4096\nhttp_body = \"10KB\"\n"
      "connections_per_ip = 3\nws_idle_timeout_ms = 1500\n",
      "t.toml");
  CHECK(cfg.max_prompt_bytes == 4096);
  CHECK(cfg.max_json_depth == 8);
  CHECK(cfg.gateway.client_frame_bytes == 5000);
  CHECK(cfg.gateway.worker_frame_bytes == 1000000);
  CHECK(cfg.gateway.client_send_queue_bytes == 65536);
  CHECK(cfg.gateway.worker_send_queue_bytes == 2000000);
  CHECK(cfg.gateway.http_header_bytes == 4096);
  CHECK(cfg.gateway.http_body_bytes == 10000);
  CHECK(cfg.gateway.connections_per_ip == 3);
  CHECK(cfg.gateway.ws_idle_timeout_ms == 1500);
  CHECK(cfg.gateway.allowed_origins == std::vector<std::string>{"https://lab.example"});
  CHECK(error_of("[limits]\nmax_json_depth = 1\n").find("limits.max_json_depth: value 1 out of range") != std::string::npos);
  CHECK(error_of("[limits]\nclient_frame = 0\n").find("limits.client_frame") != std::string::npos);
  CHECK(error_of("[node]\nallowed_origins = [1]\n").find("node.allowed_origins[0]: expected a string") !=
        std::string::npos);
  CHECK(error_of("[limits]\nframe = 5\n").find("limits.frame: unknown key") != std::string::npos);
}

TEST_CASE("an unknown key is named with its table") {
  auto e = error_of("[model]\ncontxt = 5\n");
  CHECK(e.find("test.toml") != std::string::npos);
  CHECK(e.find("model.contxt") != std::string::npos);
  CHECK(e.find("unknown key") != std::string::npos);
}

TEST_CASE("a wrong type names the key") {
  auto e = error_of("[model]\ncontext = \"big\"\n");
  CHECK(e.find("model.context") != std::string::npos);
  CHECK(e.find("integer") != std::string::npos);
}

TEST_CASE("a bad value names the key and the value") {
  CHECK(error_of("[model]\nobjective = \"fastest\"\n").find("\"fastest\"") != std::string::npos);
  CHECK(error_of("[node]\nlisten = \"localhost\"\n").find("node.listen") != std::string::npos);
  CHECK(error_of("[node]\nlisten = \"h:99999\"\n").find("99999") != std::string::npos);
  CHECK(error_of("[model]\ncontext = 1\n").find("out of range") != std::string::npos);
  auto e = error_of("[[workers.local]]\nmemory = \"2 parsecs\"\n");
  CHECK(e.find("workers.local[0].memory") != std::string::npos);
  CHECK(e.find("PARSECS") != std::string::npos);
  CHECK(error_of("[[workers.local]]\nthreads = 2\n").find("workers.local[0].memory") != std::string::npos);
  CHECK(error_of("[runtime]\nmigration = \"later\"\n").find("runtime.migration") != std::string::npos);
  CHECK(error_of("[runtime]\nstandby = \"yes\"\n").find("runtime.standby") != std::string::npos);
  CHECK(error_of("[runtime]\nheartbeat_ms = 500\nheartbeat_timeout_ms = 400\n")
            .find("runtime.heartbeat_timeout_ms") != std::string::npos);
}

TEST_CASE("TOML syntax errors carry the line") {
  auto e = error_of("[model\n");
  CHECK(e.find("test.toml:1") != std::string::npos);
}

TEST_CASE("byte sizes parse with decimal and binary units") {
  CHECK(parse_byte_size("1500MB", "x") == 1500000000ull);
  CHECK(parse_byte_size("2GiB", "x") == 2147483648ull);
  CHECK(parse_byte_size("1.5GB", "x") == 1500000000ull);
  CHECK(parse_byte_size("100", "x") == 100);
  CHECK_THROWS_AS(parse_byte_size("MB", "x"), config_error);
}

TEST_CASE("a missing config file is named") {
  try {
    load_node_config("/nonexistent/tessera.toml");
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/tessera.toml") != std::string::npos);
  }
}

TEST_CASE("TLS files come from [node] and credentials files from [auth]") {
  auto cfg = parse_node_config(R"(
[node]
tls_cert = "certs/node.pem"
tls_key = "certs/node.key"
tls_ca = "certs/ca.pem"
[auth]
keys_file = "keys.txt"
tokens_file = "tokens.txt"
open = true
)", "t");
  CHECK(cfg.tls_cert == "certs/node.pem");
  CHECK(cfg.tls_key == "certs/node.key");
  CHECK(cfg.tls_ca == "certs/ca.pem");
  CHECK(cfg.keys_file == "keys.txt");
  CHECK(cfg.tokens_file == "tokens.txt");
  CHECK(cfg.auth_open);
  auto plain = default_node_config();
  CHECK(plain.tls_cert.empty());
  CHECK(plain.keys_file.empty());
  CHECK_FALSE(plain.auth_open);
  CHECK_THROWS_WITH(parse_node_config("[node]\ntls_cert = \"a.pem\"\n", "t"), Catch::Contains("node.tls_key: missing"));
  CHECK_THROWS_WITH(parse_node_config("[auth]\nopen = \"yes\"\n", "t"), Catch::Contains("auth.open"));
  CHECK_THROWS_WITH(parse_node_config("[auth]\nkey_file = \"k\"\n", "t"), Catch::Contains("auth.key_file"));
}

TEST_CASE("what the node checks of workers comes from [verify] and [planner] max_worker_memory") {
  auto cfg = parse_node_config("[planner]\nmax_worker_memory = \"8GB\"\n"
                               "[verify]\nstep_deadline_ms = 1500\nstep_deadline_per_position_ms = 5\n"
                               "max_worker_flops = 2e12\ncheck_results = false\n",
                               "test.toml");
  CHECK(cfg.max_worker_memory == 8'000'000'000ull);
  CHECK(cfg.step_deadline_ms == 1500);
  CHECK(cfg.step_deadline_per_position_ms == 5);
  CHECK(cfg.max_worker_flops == 2e12);
  CHECK_FALSE(cfg.check_results);
  auto defaults = default_node_config();
  CHECK(defaults.check_results);
  CHECK(defaults.max_worker_flops == 1e14);
  auto e = error_of("[verify]\nmax_worker_flops = 0.5\n");
  CHECK(e.find("verify.max_worker_flops") != std::string::npos);
  CHECK(e.find("0.5") != std::string::npos);
  CHECK(error_of("[verify]\nstep_deadline_ms = 1\n").find("verify.step_deadline_ms") != std::string::npos);
  CHECK(error_of("[verify]\nprobe = true\n").find("verify.probe") != std::string::npos);
}

TEST_CASE("spot checks come from [verify] rate, first_steps and tolerance") {
  auto cfg = parse_node_config("[verify]\nrate = 0.1\nfirst_steps = 8\ntolerance = 1e-4\n", "test.toml");
  CHECK(cfg.verify_rate == 0.1);
  CHECK(cfg.verify_first_steps == 8);
  CHECK(cfg.verify_tolerance == 1e-4);
  auto defaults = default_node_config();
  CHECK(defaults.verify_rate == 0.02);
  CHECK(defaults.verify_first_steps == 4);
  CHECK(defaults.verify_tolerance == 2e-3);
  auto e = error_of("[verify]\nrate = 1.5\n");
  CHECK(e.find("verify.rate") != std::string::npos);
  CHECK(e.find("1.5") != std::string::npos);
}

TEST_CASE("the load probe and the tolerances per backend pair come from [verify]") {
  auto cfg = parse_node_config("[verify]\nload_probe = false\ntolerance_cpu_wasm = 5e-3\ntolerance_cpu_webgpu = 6e-3\n"
                               "tolerance_wasm_webgpu = 7e-3\n",
                               "test.toml");
  CHECK_FALSE(cfg.load_probe);
  CHECK(cfg.verify_tolerance_cpu_wasm == 5e-3);
  CHECK(cfg.verify_tolerance_cpu_webgpu == 6e-3);
  CHECK(cfg.verify_tolerance_wasm_webgpu == 7e-3);
  auto defaults = default_node_config();
  CHECK(defaults.load_probe);
  CHECK(defaults.verify_tolerance_cpu_wasm == 2e-3);
  CHECK(defaults.verify_tolerance_cpu_webgpu == 2e-3);
  CHECK(defaults.verify_tolerance_wasm_webgpu == 2e-3);
  auto e = error_of("[verify]\ntolerance_cpu_wasm = -1\n");
  CHECK(e.find("verify.tolerance_cpu_wasm") != std::string::npos);
  CHECK(error_of("[verify]\nload_probe = 3\n").find("verify.load_probe") != std::string::npos);
}
