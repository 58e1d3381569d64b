// node_runtime: wires config, model, actors, gateway and local workers.
// Start order: model -> actor system (planner under the node actor) -> gateway
// -> local workers. Stop order (BUILD-NOTES): workers, gateway (sockets end,
// proxies quit), planner and node actor, then the actor system.
#include "actors/node.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/federation.hpp"
#include "actors/federation_pool.hpp"
#include "actors/pool_context.hpp"
#include "actors/local_workers.hpp"
#include "actors/metrics.hpp"
#include "actors/node_access.hpp"
#include "actors/prefix_cache.hpp"
#include "actors/socket_handler.hpp"
#include "actors/spawn.hpp"
#include "actors/load_probe.hpp"
#include "actors/spot_check.hpp"
#include "actors/status_board.hpp"
#include "actors/worker_guard.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "net/access_control.hpp"
#include "net/gateway.hpp"

namespace tessera::actors {

namespace fs = std::filesystem;

namespace {

struct system_config : caf::actor_system_config {
  explicit system_config(const node_config& cfg) {
    register_message_types(*this);
    set("scheduler.max-threads", cfg.system_threads);
    if (cfg.federation.enabled)
      add_federation_transport(*this, cfg.federation);
  }
};

// The root actor: supervises the planner (a crash is logged with its reason).
node_hdl::behavior_type node_actor(node_hdl::pointer self, planner_hdl planner) {
  self->monitor(planner);
  self->set_down_handler([=](caf::down_msg& d) {
    if (d.reason && d.reason != caf::exit_reason::user_shutdown)
      spdlog::error("node: planner stopped: {}", self->system().render(d.reason));
  });
  return {[=](stop_atom) {
    self->send_exit(planner, caf::exit_reason::user_shutdown);
    self->quit();
  }};
}

// Runs `tessera model build SOURCE_FLAG SOURCE --out DIR` with this executable
// (SOURCE_FLAG: --preset or --from-hf).
void build_model(const std::string& source_flag, const std::string& source, const std::string& dir) {
  spdlog::info("model dir={} missing: building {} {}", dir, source_flag, source);
  fs::create_directories(fs::path(dir).parent_path().empty() ? "." : fs::path(dir).parent_path());
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("cannot fork to build the model");
  if (pid == 0) {
    execl("/proc/self/exe", "tessera", "model", "build", source_flag.c_str(), source.c_str(), "--out", dir.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("`tessera model build " + source_flag + " " + source + " --out " + dir + "` failed");
}

}  // namespace

struct node_runtime::impl {
  node_config config;
  std::shared_ptr<status_board> board = std::make_shared<status_board>();
  std::shared_ptr<shard_registry> shards = std::make_shared<shard_registry>();
  std::shared_ptr<const model::tokenizer> tok;
  std::unique_ptr<system_config> sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  planner_hdl planner;
  node_hdl root;
  std::unique_ptr<federation_runtime> federation;  // null: [federation] not configured
  std::shared_ptr<pool_context> pool;               // null: not a pooled node ([federation] pool)
  caf::actor pool_actor;                            // its pool front (federation_pool.hpp)
  std::unique_ptr<net::gateway> gateway;
  local_workers workers;
  std::atomic<uint64_t> next_worker_id{1};
  uint16_t port = 0;
  bool running = false;
};

node_runtime::node_runtime(node_config config) : impl_(std::make_unique<impl>()) {
  impl_->config = std::move(config);
}

node_runtime::~node_runtime() { stop(); }

uint16_t node_runtime::start() {
  auto& d = *impl_;
  auto& cfg = d.config;
  d.running = true;
  if (!fs::exists(fs::path(cfg.model_dir) / "model.onnx")) {
    if (cfg.from_hf.empty() && cfg.preset.empty())
      throw std::runtime_error(cfg.model_dir + ": no model.onnx (set model.from_hf or model.preset to build one)");
    if (!cfg.from_hf.empty()) build_model("--from-hf", cfg.from_hf, cfg.model_dir);
    else build_model("--preset", cfg.preset, cfg.model_dir);
  }
  d.tok = model::load_tokenizer(cfg.model_dir);
  fs::create_directories(cfg.shard_dir);

  const bool pooled = cfg.federation.enabled && cfg.federation.pool;
  if (pooled) {
    d.pool = std::make_shared<pool_context>(cfg.federation.id);
    auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    auto first = d.pool->id_base() + pool_run_offset(static_cast<uint64_t>(unix_ms));
    d.next_worker_id = first + 1;
    set_request_id_base(first);
    spdlog::info("federation: node={} pools its workers; its id range starts at {}, this run counts from {}",
                 cfg.federation.id, d.pool->id_base(), first);
    if (cfg.cache_enabled) {
      spdlog::info("federation: the prefix cache is off on a pooled node");
      cfg.cache_enabled = false;
    }
  }
  d.sys_cfg = std::make_unique<system_config>(cfg);
  d.sys = std::make_unique<caf::actor_system>(*d.sys_cfg);
  d.planner = spawn_planner_actor(*d.sys, cfg, d.board, d.shards, {}, d.pool);
  d.root = d.sys->spawn(node_actor, d.planner);
  // What the node's other actors take for their planner: a pooled node's front
  // forwards to the leader's planner (started with the federation, below).
  planner_hdl serving = d.planner;
  if (pooled) {
    auto front = spawn_pool_front(*d.sys, d.pool, cfg.federation.heartbeat_ms);
    serving = front.planner;
    d.pool_actor = front.actor;
  } else if (cfg.federation.enabled) {
    d.federation = federation_runtime::start(*d.sys, cfg.federation);
  }

  worker_options wopts;
  wopts.config = cfg;
  wopts.verify = std::make_shared<verify_registry>(d.shards);
  wopts.pool = d.pool;
  if (cfg.load_probe)
    wopts.probes = make_load_probe_cache(cfg);
  request_options ropts;
  ropts.config = cfg;
  ropts.board = d.board;
  if (cfg.verify_rate > 0 || cfg.verify_first_steps > 0)
    ropts.checks = std::make_shared<spot_check_ledger>(
        spot_check_settings{cfg.verify_rate, cfg.verify_first_steps, tolerances_of(cfg)});
  if (cfg.cache_enabled) {
    auto cache = spawn_prefix_cache_actor(*d.sys, prefix_cache_options{cfg, serving, d.tok, d.board});
    wopts.cache = cache;
    ropts.cache = cache;
  }

  net::gateway_config gcfg;
  gcfg.host = cfg.listen_host;
  gcfg.port = cfg.listen_port;
  gcfg.static_dir = cfg.static_dir;
  gcfg.limits = cfg.gateway;
  gcfg.tls_cert_file = cfg.tls_cert;
  gcfg.tls_key_file = cfg.tls_key;
  gcfg.access = make_access_control(cfg);
  net::gateway_hooks hooks;
  auto* sys = d.sys.get();
  auto planner = serving;
  auto tok = d.tok;
  auto board = d.board;
  auto shards = d.shards;
  auto* ids = &d.next_worker_id;
  hooks.on_worker_socket = [=](net::ws_connection_ptr conn) -> net::ws_handler_ptr {
    auto id = ids->fetch_add(1);
    return std::make_shared<actor_socket_handler>(spawn_worker_actor(*sys, std::move(conn), id, planner, wopts));
  };
  hooks.on_client_socket = [=](net::ws_connection_ptr conn) -> net::ws_handler_ptr {
    auto opts = ropts;
    opts.meter = conn->meter();
    return std::make_shared<actor_socket_handler>(spawn_client_actor(*sys, std::move(conn), planner, tok, opts));
  };
  hooks.on_api_call = [=](net::api_call call, net::api_reply_ptr reply) {
    return start_openai_call(*sys, std::move(call), std::move(reply), planner, tok, ropts);
  };
  hooks.status_json = [this] { return status_json(); };
  hooks.metrics_text = [board] {
    auto text = metrics().registry.render() + metrics().worker_cache_text() + worker_link_metrics_text(board->planner());
    if (auto cache = board->cache())
      text += prefix_cache_metrics_text(*cache);
    return text;
  };
  hooks.live_json = [] { return metrics().live_json(); };
  hooks.find_shard = [shards](const std::string& id, const std::string& name) { return shards->find(id, name); };
  d.gateway = std::make_unique<net::gateway>(gcfg, hooks);
  d.port = d.gateway->start();
  const bool tls = !cfg.tls_cert.empty();
  spdlog::info("node listening on {}://{}:{} (workers: /ws/worker, clients: /ws/generate)", tls ? "https" : "http",
               cfg.listen_host, d.port);
  if (!cfg.port_file.empty()) {
    auto tmp = cfg.port_file + ".tmp";
    std::ofstream(tmp) << d.port << "\n";
    fs::rename(tmp, cfg.port_file);
  }
  std::string host = cfg.listen_host == "0.0.0.0" ? "127.0.0.1" : cfg.listen_host;
  std::string worker_url = std::string(tls ? "wss://" : "ws://") + host + ":" + std::to_string(d.port) + "/ws/worker";
  if (gcfg.access && gcfg.access->tokens_required()) {
    print_join_link(cfg, d.port, gcfg.access->add_ephemeral_token("join-link"));
    worker_url += "?token=" + gcfg.access->add_ephemeral_token("local-workers");
  }
  if (pooled) {  // the workers this node's planner assigns download from here, whichever node they are on
    d.pool->set_gateway(std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(d.port));
    d.federation = federation_runtime::start(*d.sys, cfg.federation, caf::actor_cast<caf::actor>(d.planner),
                                             d.pool_actor, d.pool->federation());
  }
  if (tls && !cfg.tls_ca.empty()) setenv("NODE_EXTRA_CA_CERTS", cfg.tls_ca.c_str(), 1);  // for the local workers
  d.workers.start(cfg, worker_url);
  return d.port;
}

void node_runtime::stop() {
  auto& d = *impl_;
  if (!d.running)
    return;
  d.running = false;
  spdlog::info("node stopping");
  d.workers.stop();
  if (d.gateway)
    d.gateway->stop();
  d.gateway.reset();
  if (d.federation)
    d.federation->stop();
  if (d.pool_actor)
    caf::anon_send_exit(d.pool_actor, caf::exit_reason::user_shutdown);
  d.pool_actor = nullptr;
  if (d.root)
    caf::anon_send(d.root, stop_atom::value);
  d.root = nullptr;
  d.planner = nullptr;
  d.sys.reset();  // waits for every actor to finish
  d.federation.reset();
  spdlog::info("node stopped");
}

std::string node_runtime::status_json() const {
  const auto& b = *impl_->board;
  node_status n;
  n.listen = impl_->config.listen_host + ":" + std::to_string(impl_->port);
  n.requests_active = b.requests_active.load();
  n.requests_done = b.requests_done.load();
  n.requests_failed = b.requests_failed.load();
  n.tokens_generated = b.tokens_generated.load();
  // Actors alive in this node's system (node, planner, shard maker, 1 per
  // worker, 1 per client socket, requests...): the leak check compares it with
  // a baseline. running() is one atomic load, so the gateway's thread may read
  // it; the gateway stops before the system is destroyed (stop()).
  if (impl_->sys)
    n.actors_running = impl_->sys->registry().running();
  n.cache = b.cache();
  auto status = render_status(b.planner(), &n);
  if (impl_->federation)
    status = with_federation_status(status, impl_->federation->view());
  if (impl_->pool && impl_->federation)
    status = with_pool_status(status, *impl_->pool);
  return status;
}

}  // namespace tessera::actors
