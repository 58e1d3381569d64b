// TOML -> node_config. Every key is checked: unknown keys, wrong types and
// values out of range raise config_error("<origin>: <key>: <problem>").
#include "actors/node_config.hpp"

#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <toml++/toml.h>

#include "actors/embedded_config.hpp"
#include "actors/federation_config_toml.hpp"

namespace tessera::actors {

namespace {

struct reader {
  std::string origin;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw config_error(origin + ": " + key + ": " + problem);
  }

  std::string get_string(const toml::node& n, const std::string& key) const {
    if (auto v = n.value_exact<std::string>())
      return *v;
    fail(key, "expected a string");
  }
  std::vector<std::string> get_strings(const toml::node& n, const std::string& key) const {
    auto* arr = n.as_array();
    if (!arr)
      fail(key, "expected an array of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < arr->size(); ++i)
      out.push_back(get_string((*arr)[i], key + "[" + std::to_string(i) + "]"));
    return out;
  }
  bool get_bool(const toml::node& n, const std::string& key) const {
    if (auto v = n.value_exact<bool>())
      return *v;
    fail(key, "expected true or false");
  }
  int64_t get_int(const toml::node& n, const std::string& key, int64_t lo, int64_t hi) const {
    auto v = n.value_exact<int64_t>();
    if (!v)
      fail(key, "expected an integer");
    if (*v < lo || *v > hi)
      fail(key, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
    return *v;
  }
  uint64_t get_bytes(const toml::node& n, const std::string& key) const {
    if (auto v = n.value_exact<int64_t>()) {
      if (*v <= 0)
        fail(key, "value " + std::to_string(*v) + " must be positive");
      return static_cast<uint64_t>(*v);
    }
    if (auto s = n.value_exact<std::string>())
      return parse_byte_size(*s, origin + ": " + key);
    fail(key, "expected a size like \"2GB\" or an integer");
  }
  double get_number(const toml::node& n, const std::string& key, double lo, double hi) const {
    std::optional<double> v = n.value_exact<double>();
    if (auto i = n.value_exact<int64_t>())
      v = static_cast<double>(*i);
    if (!v)
      fail(key, "expected a number");
    if (!(*v >= lo && *v <= hi))
      fail(key, "value " + format_number(*v) + " out of range [" + format_number(lo) + ", " + format_number(hi) + "]");
    return *v;
  }
  static std::string format_number(double x) {
    std::ostringstream os;
    os << x;
    return os.str();
  }
  std::string get_choice(const toml::node& n, const std::string& key,
                         std::initializer_list<const char*> allowed) const {
    auto s = get_string(n, key);
    std::string list;
    for (auto a : allowed) {
      if (s == a)
        return s;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    fail(key, "value \"" + s + "\" is not one of " + list);
  }

  using handler = std::function<void(const toml::node&, const std::string&)>;
  void table(const toml::node& n, const std::string& prefix,
             const std::map<std::string, handler>& handlers) const {
    auto* t = n.as_table();
    if (!t)
      fail(prefix, "expected a table");
    for (auto&& [k, v] : *t) {
      std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      auto it = handlers.find(std::string(k.str()));
      if (it == handlers.end())
        fail(key, "unknown key");
      it->second(v, key);
    }
  }
};

void parse_listen(const std::string& text, node_config& cfg, const reader& r,
                  const std::string& key) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    r.fail(key, "value \"" + text + "\" is not HOST:PORT");
  auto port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) > 65535)
    r.fail(key, "port \"" + port_text + "\" is not a number in [0, 65535]");
  cfg.listen_host = text.substr(0, colon);
  cfg.listen_port = static_cast<uint16_t>(std::stoul(port_text));
}

}  // namespace

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0)
    throw config_error(what + ": size \"" + text + "\" does not start with a number");
  double number = 0;
  try {
    number = std::stod(text.substr(0, i));
  } catch (const std::exception&) {
    throw config_error(what + ": size \"" + text + "\" is not a number");
  }
  std::string unit;
  for (size_t j = i; j < text.size(); ++j)
    if (!std::isspace(static_cast<unsigned char>(text[j])))
      unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[j])));
  static const std::map<std::string, double> units = {
      {"", 1},          {"B", 1},           {"KB", 1e3},          {"MB", 1e6},
      {"GB", 1e9},      {"TB", 1e12},       {"KIB", 1024.0},      {"MIB", 1048576.0},
      {"GIB", 1073741824.0}, {"K", 1e3},    {"M", 1e6},           {"G", 1e9}};
  auto it = units.find(unit);
  if (it == units.end())
    throw config_error(what + ": size \"" + text + "\" has unknown unit \"" + unit + "\"");
  double bytes = number * it->second;
  if (bytes < 1)
    throw config_error(what + ": size \"" + text + "\" must be at least one byte");
  return static_cast<uint64_t>(bytes);
}

node_config parse_node_config(const std::string& toml_text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw config_error(os.str());
  }
  node_config cfg;
  reader r{origin};
  using h = reader::handler;
  auto str = [&](std::string& out) { return h([&r, &out](auto& n, auto& k) { out = r.get_string(n, k); }); };
  auto u32 = [&](uint32_t& out, int64_t lo, int64_t hi) {
    return h([&r, &out, lo, hi](auto& n, auto& k) { out = static_cast<uint32_t>(r.get_int(n, k, lo, hi)); });
  };
  std::map<std::string, h> node_keys = {
      {"listen", [&](auto& n, auto& k) { parse_listen(r.get_string(n, k), cfg, r, k); }},
      {"log_level", [&](auto& n, auto& k) {
         cfg.log_level = r.get_choice(n, k, {"trace", "debug", "info", "warn", "error", "off"});
       }},
      {"shard_dir", str(cfg.shard_dir)},
      {"shard_budget", [&](auto& n, auto& k) { cfg.shard_budget_bytes = r.get_bytes(n, k); }},
      {"static_dir", str(cfg.static_dir)},
      {"port_file", str(cfg.port_file)},
      {"tls_cert", str(cfg.tls_cert)},
      {"tls_key", str(cfg.tls_key)},
      {"tls_ca", str(cfg.tls_ca)},
      {"threads", [&](auto& n, auto& k) { cfg.system_threads = static_cast<int>(r.get_int(n, k, 1, 64)); }},
      {"allowed_origins", [&](auto& n, auto& k) { cfg.gateway.allowed_origins = r.get_strings(n, k); }},
  };
  auto size = [&](auto& out) { return h([&r, &out](auto& n, auto& k) { out = r.get_bytes(n, k); }); };
  auto& g = cfg.gateway;
  std::map<std::string, h> limits_keys = {
      {"max_prompt_bytes", size(cfg.max_prompt_bytes)},
      {"max_json_depth", u32(cfg.max_json_depth, 2, 100000)},
      {"client_frame", size(g.client_frame_bytes)},
      {"worker_frame", size(g.worker_frame_bytes)},
      {"client_send_queue", size(g.client_send_queue_bytes)},
      {"worker_send_queue", size(g.worker_send_queue_bytes)},
      {"http_header", size(g.http_header_bytes)},
      {"http_body", size(g.http_body_bytes)},
      {"connections_per_ip", u32(g.connections_per_ip, 1, 1000000)},
      {"ws_idle_timeout_ms", u32(g.ws_idle_timeout_ms, 100, 86400000)},
  };
  std::map<std::string, h> model_keys = {
      {"dir", str(cfg.model_dir)},
      {"from_hf", str(cfg.from_hf)},
      {"preset", str(cfg.preset)},
      {"context", u32(cfg.context, 8, 1 << 20)},
      {"objective", [&](auto& n, auto& k) { cfg.objective = r.get_choice(n, k, {"latency", "throughput"}); }},
  };
  std::map<std::string, h> runtime_keys = {
      {"heartbeat_ms", u32(cfg.heartbeat_ms, 10, 600000)},
      {"heartbeat_timeout_ms", u32(cfg.heartbeat_timeout_ms, 50, 3600000)},
      {"step_timeout_ms", u32(cfg.step_timeout_ms, 10, 3600000)},
      {"queue_timeout_ms", u32(cfg.queue_timeout_ms, 0, 86400000)},
      {"max_tokens_default", u32(cfg.max_tokens_default, 1, 1 << 20)},
      {"kept_inputs", [&](auto& n, auto& k) { cfg.kept_inputs_bytes = r.get_bytes(n, k); }},
      {"settle_ms", u32(cfg.settle_ms, 0, 600000)},
      {"migration", [&](auto& n, auto& k) { cfg.migration = r.get_choice(n, k, {"background", "immediate"}); }},
      {"park_timeout_ms", u32(cfg.park_timeout_ms, 10, 3600000)},
      {"standby", [&](auto& n, auto& k) { cfg.standby = r.get_bool(n, k); }},
  };
  std::map<std::string, h> planner_keys = {
      {"concurrent_sequences", u32(cfg.concurrent_sequences, 1, 65536)},
      {"scratch", [&](auto& n, auto& k) { cfg.scratch_bytes = r.get_bytes(n, k); }},
      {"link_rtt_ms", [&](auto& n, auto& k) { cfg.link_rtt_ms = r.get_number(n, k, 0, 600000); }},
      {"link_bandwidth", [&](auto& n, auto& k) { cfg.link_bytes_per_s = static_cast<double>(r.get_bytes(n, k)); }},
      {"first_plan_wait_ms", u32(cfg.first_plan_wait_ms, 0, 3600000)},
      {"max_worker_memory", [&](auto& n, auto& k) { cfg.max_worker_memory = r.get_bytes(n, k); }},
      {"link_probe", [&](auto& n, auto& k) { cfg.link_probe = r.get_bool(n, k); }},
      {"link_probe_interval_ms", u32(cfg.link_probe_interval_ms, 0, 3600000)},
      {"link_probe_bytes",
       [&](auto& n, auto& k) {
         cfg.link_probe_bytes = r.get_bytes(n, k);
         if (cfg.link_probe_bytes < 1024 || cfg.link_probe_bytes > (16u << 20))
           r.fail(k, "value " + std::to_string(cfg.link_probe_bytes) + " must be between 1KiB and 16MiB");
       }},
      {"stability_margin", [&](auto& n, auto& k) { cfg.stability_margin = r.get_number(n, k, 0, 1); }},
      {"replan_change", [&](auto& n, auto& k) { cfg.replan_change = r.get_number(n, k, 0, 100); }},
      {"replan_change_polls", u32(cfg.replan_change_polls, 1, 3600)},
  };
  std::map<std::string, h> verify_keys = {
      {"step_deadline_ms", u32(cfg.step_deadline_ms, 10, 3600000)},
      {"step_deadline_per_position_ms",
       [&](auto& n, auto& k) { cfg.step_deadline_per_position_ms = r.get_number(n, k, 0, 600000); }},
      {"max_worker_flops", [&](auto& n, auto& k) { cfg.max_worker_flops = r.get_number(n, k, 1, 1e18); }},
      {"check_results", [&](auto& n, auto& k) { cfg.check_results = r.get_bool(n, k); }},
      {"rate", [&](auto& n, auto& k) { cfg.verify_rate = r.get_number(n, k, 0, 1); }},
      {"first_steps", u32(cfg.verify_first_steps, 0, 1000000)},
      {"tolerance", [&](auto& n, auto& k) { cfg.verify_tolerance = r.get_number(n, k, 0, 1e6); }},
      {"tolerance_cpu_wasm", [&](auto& n, auto& k) { cfg.verify_tolerance_cpu_wasm = r.get_number(n, k, 0, 1e6); }},
      {"tolerance_cpu_webgpu", [&](auto& n, auto& k) { cfg.verify_tolerance_cpu_webgpu = r.get_number(n, k, 0, 1e6); }},
      {"tolerance_wasm_webgpu",
       [&](auto& n, auto& k) { cfg.verify_tolerance_wasm_webgpu = r.get_number(n, k, 0, 1e6); }},
      {"load_probe", [&](auto& n, auto& k) { cfg.load_probe = r.get_bool(n, k); }},
  };
  std::map<std::string, h> cache_keys = {
      {"enabled", [&](auto& n, auto& k) { cfg.cache_enabled = r.get_bool(n, k); }},
      {"block_tokens", u32(cfg.cache_block_tokens, 1, 4096)},
      {"kv_budget", [&](auto& n, auto& k) { cfg.cache_kv_budget_bytes = r.get_bytes(n, k); }},
      {"rebuild_top", u32(cfg.cache_rebuild_top, 0, 1000)},
  };
  auto parse_local = [&](const toml::node& n, const std::string& key) {
    auto* arr = n.as_array();
    if (!arr)
      r.fail(key, "expected an array of tables ([[workers.local]])");
    for (size_t i = 0; i < arr->size(); ++i) {
      local_worker_config w;
      w.name = "local-" + std::to_string(i);
      std::string item = key + "[" + std::to_string(i) + "]";
      bool has_memory = false;
      r.table((*arr)[i], item,
              {{"name", [&](auto& v, auto& k) { w.name = r.get_string(v, k); }},
               {"memory", [&](auto& v, auto& k) { w.memory_bytes = r.get_bytes(v, k); has_memory = true; }},
               {"threads", [&](auto& v, auto& k) { w.threads = static_cast<int>(r.get_int(v, k, 1, 256)); }},
               {"restart", [&](auto& v, auto& k) { w.restart = r.get_choice(v, k, {"always", "never"}) == "always"; }}});
      if (!has_memory)
        r.fail(item + ".memory", "missing (a size like \"1GB\")");
      cfg.local_workers.push_back(w);
    }
  };
  std::map<std::string, h> auth_keys = {
      {"keys_file", str(cfg.keys_file)},
      {"tokens_file", str(cfg.tokens_file)},
      {"open", [&](auto& n, auto& k) { cfg.auth_open = r.get_bool(n, k); }},
  };
  std::map<std::string, h> worker_keys = {
      {"command", str(cfg.worker_command)},
      {"script", str(cfg.worker_script)},
      {"local", parse_local},
  };
  r.table(root, "",
          {{"node", [&](auto& n, auto& k) { r.table(n, k, node_keys); }},
           {"model", [&](auto& n, auto& k) { r.table(n, k, model_keys); }},
           {"runtime", [&](auto& n, auto& k) { r.table(n, k, runtime_keys); }},
           {"planner", [&](auto& n, auto& k) { r.table(n, k, planner_keys); }},
           {"limits", [&](auto& n, auto& k) { r.table(n, k, limits_keys); }},
           {"auth", [&](auto& n, auto& k) { r.table(n, k, auth_keys); }},
           {"cache", [&](auto& n, auto& k) { r.table(n, k, cache_keys); }},
           {"verify", [&](auto& n, auto& k) { r.table(n, k, verify_keys); }},
           {"workers", [&](auto& n, auto& k) { r.table(n, k, worker_keys); }},
           {"federation", [&](auto& n, auto& k) { cfg.federation = parse_federation_table(n, k, origin); }}});
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    r.fail(cfg.tls_cert.empty() ? "node.tls_cert" : "node.tls_key",
           "missing: TLS needs both node.tls_cert and node.tls_key");
  if (cfg.heartbeat_timeout_ms <= cfg.heartbeat_ms)
    r.fail("runtime.heartbeat_timeout_ms",
           "value " + std::to_string(cfg.heartbeat_timeout_ms) +
               " must exceed runtime.heartbeat_ms (" + std::to_string(cfg.heartbeat_ms) + ")");
  return cfg;
}

node_config load_node_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw config_error(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_node_config(ss.str(), path);
}

const std::string& embedded_default_config_text() {
  static const std::string text = kEmbeddedLocalToml;
  return text;
}

node_config default_node_config() {
  return parse_node_config(embedded_default_config_text(), "<embedded configs/local.toml>");
}

}  // namespace tessera::actors
