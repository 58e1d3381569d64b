// Bodies of actors/node_access.hpp.
#include "actors/node_access.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "net/access_control.hpp"

namespace tessera::actors {

std::shared_ptr<net::access_control> make_access_control(const node_config& config) {
  const bool loopback = net::is_loopback_host(config.listen_host);
  if (!loopback && (config.keys_file.empty() || config.tokens_file.empty())) {
    const std::string missing = config.keys_file.empty() && config.tokens_file.empty() ? "keys_file and tokens_file"
                                : config.keys_file.empty()                            ? "keys_file"
                                                                                      : "tokens_file";
    if (!config.auth_open)
      throw std::runtime_error("node.listen = " + config.listen_host + " reaches beyond loopback but [auth] lacks " +
                               missing +
                               ": anyone on the network could send prompts or join as a worker and forge replies. "
                               "Set them (see `tessera keys` / `tessera tokens`), or set [auth] open = true to "
                               "accept that");
    spdlog::warn("*** node.listen = {} reaches beyond loopback and [auth] lacks {} ([auth] open = true): anyone "
                 "who can reach this port can {} ***",
                 config.listen_host, missing,
                 config.keys_file.empty() ? "send prompts and read status" : "join as a worker and forge replies");
  }
  if (config.keys_file.empty() && config.tokens_file.empty()) return nullptr;
  net::access_settings settings;
  settings.keys_file = config.keys_file;
  settings.tokens_file = config.tokens_file;
  settings.loopback_only = loopback;
  auto access = std::make_shared<net::access_control>(settings);
  spdlog::info("node access: api keys {} tokens {}; status/metrics/shards {}",
               config.keys_file.empty() ? "not required" : "from " + config.keys_file,
               config.tokens_file.empty() ? "not required" : "from " + config.tokens_file,
               loopback ? "open (loopback only)" : "need a key or a join token");
  return access;
}

void print_join_link(const node_config& config, uint16_t port, const std::string& token) {
  std::string host = config.listen_host;
  if (host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    host = gethostname(name, sizeof(name) - 1) == 0 && name[0] ? name : "HOST";
  }
  spdlog::info("join link (valid while this node runs): {}://{}:{}/?token={}", config.tls_cert.empty() ? "http" : "https",
               host, port, token);
}

}  // namespace tessera::actors
