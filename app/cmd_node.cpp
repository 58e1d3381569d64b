// tessera node --config FILE [--listen HOST:PORT] [--port-file FILE] [--log-level L]
// Runs one orchestrator node until SIGINT/SIGTERM, then stops its local workers
// and exits cleanly. Without --config the embedded configs/local.toml is used.
#include <csignal>
#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/node.hpp"
#include "app/cli_args.hpp"
#include "app/commands.hpp"

namespace tessera::app {

namespace {

const char* kNodeUsage =
    "usage: tessera node [--config FILE] [--listen HOST:PORT] [--port-file FILE] [--log-level LEVEL]\n"
    "  --config     TOML node config (default: the embedded configs/local.toml)\n"
    "  --listen     overrides node.listen; port 0 picks a free port\n"
    "  --port-file  write the bound port to FILE once listening\n"
    "  --log-level  trace | debug | info | warn | error | off\n";

}  // namespace

int run_node_command(const arg_list& args) {
  cli_args cli(args, {"--config", "--listen", "--port-file", "--log-level"}, {"--help"});
  if (cli.has("--help")) {
    std::fputs(kNodeUsage, stdout);
    return 0;
  }
  if (!cli.positionals().empty())
    throw usage_error("unexpected argument '" + cli.positionals()[0] + "'");
  actors::node_config config;
  try {
    config = cli.has("--config") ? actors::load_node_config(cli.require("--config"))
                                 : actors::default_node_config();
    std::string overrides;
    if (auto listen = cli.get("--listen"))
      overrides += "[node]\nlisten = \"" + *listen + "\"\n";
    if (!overrides.empty()) {
      auto o = actors::parse_node_config(overrides, "--listen");
      config.listen_host = o.listen_host;
      config.listen_port = o.listen_port;
    }
    if (auto level = cli.get("--log-level"))
      config.log_level = actors::parse_node_config("[node]\nlog_level = \"" + *level + "\"\n", "--log-level")
                             .log_level;
  } catch (const actors::config_error& e) {
    throw usage_error(e.what());
  }
  if (auto pf = cli.get("--port-file"))
    config.port_file = *pf;

  spdlog::set_default_logger(spdlog::stderr_color_mt("tessera"));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");

  // Signals are taken by sigwait below: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  actors::node_runtime node(config);
  try {
    node.start();
  } catch (...) {
    node.stop();
    throw;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("node: signal {} received, shutting down", sig);
  node.stop();
  return 0;
}

}  // namespace tessera::app
