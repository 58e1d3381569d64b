// tessera keys   add NAME [--concurrent N] [--tokens-per-minute N] | list | revoke NAME
// tessera tokens add NAME | list | revoke NAME
// Manage API keys (clients) and worker join tokens in the files a node's
// [auth] keys_file / tokens_file name (or --file). A new secret is printed
// once on stdout; the file keeps only its salted SHA-256. A running node
// re-reads the file within a second: a revoked token's workers are disconnected.
#include <cstdio>
#include <ctime>
#include <iostream>

#include "actors/node_config.hpp"
#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "net/credentials.hpp"

namespace tessera::app {

namespace {

const char* kKeysUsage =
    "usage: tessera keys add NAME [--concurrent N] [--tokens-per-minute N] [--config FILE | --file FILE]\n"
    "       tessera keys list [--config FILE | --file FILE]\n"
    "       tessera keys revoke NAME [--config FILE | --file FILE]\n"
    "  API keys for clients (Authorization: Bearer KEY, WebSocket subprotocol tessera.key.KEY, ?key=KEY).\n"
    "  --file                 the keys file (default: [auth] keys_file of --config)\n"
    "  --concurrent N         requests the key may run at once (0: no limit; default 0)\n"
    "  --tokens-per-minute N  prompt + reply tokens per minute (0: no limit; default 0)\n";

const char* kTokensUsage =
    "usage: tessera tokens add NAME [--config FILE | --file FILE]\n"
    "       tessera tokens list [--config FILE | --file FILE]\n"
    "       tessera tokens revoke NAME [--config FILE | --file FILE]\n"
    "  Worker join tokens (the worker page's ?token=, worker.mjs --url ...?token=).\n"
    "  --file   the tokens file (default: [auth] tokens_file of --config)\n";

struct file_choice {
  std::string path;
  actors::node_config config;  // for the join link (listen address, TLS)
  bool have_config = false;
};

file_choice resolve_file(const cli_args& cli, net::credential_kind kind) {
  file_choice out;
  if (auto config = cli.get("--config")) {
    try {
      out.config = actors::load_node_config(*config);
    } catch (const actors::config_error& e) {
      throw usage_error(e.what());
    }
    out.have_config = true;
    out.path = kind == net::credential_kind::api_key ? out.config.keys_file : out.config.tokens_file;
  }
  if (auto file = cli.get("--file")) out.path = *file;
  if (out.path.empty())
    throw usage_error(std::string("no file: pass --file FILE, or --config FILE whose [auth] ") +
                      (kind == net::credential_kind::api_key ? "keys_file" : "tokens_file") + " is set");
  return out;
}

uint32_t limit_arg(const cli_args& cli, const std::string& flag) {
  const long long v = cli.get_int(flag, 0);
  if (v < 0 || v > 4'000'000'000LL) throw usage_error(flag + " must be in [0, 4000000000], got " + std::to_string(v));
  return static_cast<uint32_t>(v);
}

std::string limit_text(uint32_t v) { return v ? std::to_string(v) : "-"; }

int run_credentials(const arg_list& args, net::credential_kind kind) {
  const bool keys = kind == net::credential_kind::api_key;
  const char* usage = keys ? kKeysUsage : kTokensUsage;
  std::set<std::string> valued = {"--config", "--file"};
  if (keys) valued.insert({"--concurrent", "--tokens-per-minute"});
  cli_args cli(args, valued, {"--help"});
  if (cli.has("--help") || cli.positionals().empty()) {
    std::fputs(usage, cli.has("--help") ? stdout : stderr);
    return cli.has("--help") ? 0 : 2;
  }
  const auto& pos = cli.positionals();
  const std::string& verb = pos[0];
  auto want_args = [&](std::size_t n) {
    if (pos.size() != n)
      throw usage_error("'" + verb + "' takes " + (n == 1 ? std::string("no NAME") : std::string("one NAME")) +
                        " (got " + std::to_string(pos.size() - 1) + " arguments)");
  };
  if (verb == "add") {
    want_args(2);
    const auto file = resolve_file(cli, kind);
    net::credential_limits limits;
    if (keys) {
      limits.concurrent = limit_arg(cli, "--concurrent");
      limits.tokens_per_minute = limit_arg(cli, "--tokens-per-minute");
    }
    net::issued_credential issued;
    try {
      issued = net::add_credential(file.path, kind, pos[1], limits);
    } catch (const net::credential_error& e) {
      throw usage_error(e.what());
    }
    std::cout << issued.secret << std::endl;
    std::fprintf(stderr, "%s '%s' added to %s; it is shown only now.\n", keys ? "API key" : "join token",
                 pos[1].c_str(), file.path.c_str());
    if (!keys && file.have_config)
      std::fprintf(stderr, "join link: %s://%s:%u/?token=%s\n", file.config.tls_cert.empty() ? "http" : "https",
                   file.config.listen_host.c_str(), static_cast<unsigned>(file.config.listen_port),
                   issued.secret.c_str());
    return 0;
  }
  if (verb == "list") {
    want_args(1);
    const auto file = resolve_file(cli, kind);
    const auto entries = net::load_credentials(file.path);
    if (keys)
      std::printf("%-24s %-8s %-10s %-17s %s\n", "NAME", "ID", "CONCURRENT", "TOKENS/MINUTE", "CREATED");
    else
      std::printf("%-24s %-8s %s\n", "NAME", "ID", "CREATED");
    for (const auto& e : entries) {
      char when[32] = "?";
      const std::time_t t = static_cast<std::time_t>(e.created_unix);
      if (std::tm tm{}; gmtime_r(&t, &tm)) std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
      if (keys)
        std::printf("%-24s %-8s %-10s %-17s %s\n", e.name.c_str(), e.id.c_str(),
                    limit_text(e.limits.concurrent).c_str(), limit_text(e.limits.tokens_per_minute).c_str(), when);
      else
        std::printf("%-24s %-8s %s\n", e.name.c_str(), e.id.c_str(), when);
    }
    return 0;
  }
  if (verb == "revoke") {
    want_args(2);
    const auto file = resolve_file(cli, kind);
    if (!net::revoke_credential(file.path, kind, pos[1])) {
      std::fprintf(stderr, "tessera %s: no entry named '%s' in %s\n", keys ? "keys" : "tokens", pos[1].c_str(),
                   file.path.c_str());
      return 1;
    }
    std::fprintf(stderr, "revoked '%s' in %s (a running node drops it within a second)\n", pos[1].c_str(),
                 file.path.c_str());
    return 0;
  }
  throw usage_error("unknown action '" + verb + "' (add, list or revoke)");
}

}  // namespace

int run_keys_command(const arg_list& args) { return run_credentials(args, net::credential_kind::api_key); }
int run_tokens_command(const arg_list& args) { return run_credentials(args, net::credential_kind::join_token); }

}  // namespace tessera::app
