// [federation] -> federation_config. Every key is checked like the rest of
// the node's config: errors read "<origin>: federation.<key>: <problem>" and
// quote the bad value (except the secret's, which is never echoed).
#include <cctype>
#include <set>

#include "actors/federation_config_toml.hpp"
#include "actors/node_config.hpp"

namespace tessera::actors {

namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& key, const std::string& problem) {
  throw config_error(origin + ": " + key + ": " + problem);
}

std::string string_value(const toml::node& n, const std::string& origin, const std::string& key) {
  if (auto v = n.value_exact<std::string>())
    return *v;
  fail(origin, key, "expected a string");
}

uint32_t ms_value(const toml::node& n, const std::string& origin, const std::string& key, int64_t lo, int64_t hi) {
  auto v = n.value_exact<int64_t>();
  if (!v)
    fail(origin, key, "expected an integer");
  if (*v < lo || *v > hi)
    fail(origin, key,
         "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<uint32_t>(*v);
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

}  // namespace

federation_address parse_federation_address(const std::string& text, const std::string& what) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw config_error(what + ": value \"" + text + "\" is not HOST:PORT");
  auto port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) == 0 || std::stoul(port_text) > 65535)
    throw config_error(what + ": port \"" + port_text + "\" of \"" + text + "\" is not a number in [1, 65535]");
  return {text.substr(0, colon), static_cast<uint16_t>(std::stoul(port_text))};
}

federation_config parse_federation_table(const toml::node& node, const std::string& key, const std::string& origin) {
  auto* table = node.as_table();
  if (!table)
    fail(origin, key, "expected a table");
  federation_config f;
  f.enabled = true;
  bool has_listen = false;
  for (auto&& [k, v] : *table) {
    const std::string name(k.str());
    const std::string full = key + "." + name;
    if (name == "id") {
      f.id = string_value(v, origin, full);
      if (!valid_id(f.id))
        fail(origin, full, "value \"" + f.id + "\" is not 1-64 letters, digits, '.', '_' or '-'");
    } else if (name == "listen") {
      f.listen = parse_federation_address(string_value(v, origin, full), origin + ": " + full);
      has_listen = true;
    } else if (name == "peers") {
      auto* arr = v.as_array();
      if (!arr)
        fail(origin, full, "expected an array of \"HOST:PORT\" strings");
      for (size_t i = 0; i < arr->size(); ++i) {
        auto item = full + "[" + std::to_string(i) + "]";
        f.peers.push_back(parse_federation_address(string_value((*arr)[i], origin, item), origin + ": " + item));
      }
    } else if (name == "secret") {
      f.secret = string_value(v, origin, full);
      if (f.secret.size() < 16)
        fail(origin, full, "too short (" + std::to_string(f.secret.size()) + " characters; at least 16)");
    } else if (name == "heartbeat_ms") {
      f.heartbeat_ms = ms_value(v, origin, full, 10, 600000);
    } else if (name == "heartbeat_timeout_ms") {
      f.heartbeat_timeout_ms = ms_value(v, origin, full, 50, 3600000);
    } else if (name == "state_dir") {
      f.state_dir = string_value(v, origin, full);
    } else if (name == "pool") {
      auto b = v.value_exact<bool>();
      if (!b)
        fail(origin, full, "expected true or false");
      f.pool = *b;
    } else {
      fail(origin, full, "unknown key");
    }
  }
  if (f.id.empty())
    fail(origin, key + ".id", "missing (this node's unique name among its peers)");
  if (!has_listen)
    fail(origin, key + ".listen", "missing (\"HOST:PORT\" where peers reach this node)");
  if (f.secret.empty())
    fail(origin, key + ".secret", "missing (the shared secret every node of the federation knows)");
  if (f.heartbeat_timeout_ms <= f.heartbeat_ms)
    fail(origin, key + ".heartbeat_timeout_ms",
         "value " + std::to_string(f.heartbeat_timeout_ms) + " must exceed " + key + ".heartbeat_ms (" +
             std::to_string(f.heartbeat_ms) + ")");
  std::set<federation_address> seen;
  for (size_t i = 0; i < f.peers.size(); ++i) {
    auto item = key + ".peers[" + std::to_string(i) + "]";
    if (f.peers[i] == f.listen)
      fail(origin, item, "value \"" + f.peers[i].text() + "\" is this node's own listen address");
    if (!seen.insert(f.peers[i]).second)
      fail(origin, item, "value \"" + f.peers[i].text() + "\" is listed twice");
  }
  if (f.state_dir.empty())
    f.state_dir = "build/federation/" + f.id;
  return f;
}

}  // namespace tessera::actors
