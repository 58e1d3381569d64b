// Who may use the gateway: API keys for clients, join tokens for workers, and
// per-key limits (concurrent requests, tokens per minute). No Beast and no
// CAF: the gateway asks it about each request, the runtime meters requests
// through the usage_meter a client connection carries.
//
// Policy (docs/security.md):
//   /ws/generate, /v1/* (API)   a valid API key, when a keys file is configured
//   /ws/worker                  a valid join token, when a tokens file is configured
//   /api/status, /metrics,      an API key or a join token, unless the node
//   /shards/...                 listens on loopback only
//   everything else             open (the worker page must load to join)
// A key is presented as `Authorization: Bearer KEY`, as a WebSocket
// subprotocol `tessera.key.KEY`, or as `?key=KEY`; a join token as
// `?token=TOKEN` or `Authorization: Bearer TOKEN`.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/credentials.hpp"

namespace tessera::net {

// One API key's live usage, shared by every connection that presents it.
// Thread-safe. Requests call begin() before they run and end() once after.
class usage_meter {
public:
  using clock = std::chrono::steady_clock;
  usage_meter(std::string key_name, credential_limits limits);

  // nullopt: the request may run (it now counts as concurrent); otherwise the
  // reason it may not, naming the limit and the key.
  std::optional<std::string> begin(clock::time_point now = clock::now());
  // What begin() would answer now, without beginning anything.
  std::optional<std::string> check(clock::time_point now = clock::now()) const;
  // The request that began has ended having used `tokens` (prompt + completion).
  void end(uint64_t tokens, clock::time_point now = clock::now());

  void set_limits(credential_limits limits);
  const std::string& key_name() const { return key_name_; }
  uint32_t running() const;
  uint64_t tokens_last_minute(clock::time_point now = clock::now()) const;

private:
  uint64_t window_sum(clock::time_point now) const;               // under mutex_
  std::optional<std::string> refusal(clock::time_point now) const;  // under mutex_
  std::string key_name_;
  mutable std::mutex mutex_;
  credential_limits limits_;
  uint32_t running_ = 0;
  mutable std::deque<std::pair<clock::time_point, uint64_t>> window_;
};
using usage_meter_ptr = std::shared_ptr<usage_meter>;

// One begun request on a meter: ends it exactly once, with the tokens it used
// (finish), or with none when destroyed first (a request that died).
class usage_slot {
public:
  usage_slot() = default;
  explicit usage_slot(usage_meter_ptr meter) : meter_(std::move(meter)) {}
  usage_slot(usage_slot&& o) noexcept : meter_(std::move(o.meter_)) {}
  usage_slot& operator=(usage_slot&& o) noexcept {
    if (this != &o) {
      finish(0);
      meter_ = std::move(o.meter_);
    }
    return *this;
  }
  ~usage_slot() { finish(0); }
  void finish(uint64_t tokens) {
    if (auto m = std::move(meter_)) m->end(tokens);
  }

private:
  usage_meter_ptr meter_;
};

// What a request presented, taken from its headers and target.
struct presented_credentials {
  std::string bearer;          // Authorization: Bearer X
  std::string query_key;       // ?key=X
  std::string query_token;     // ?token=X
  std::string subprotocol_key; // Sec-WebSocket-Protocol: tessera.key.X
  bool offered_tessera_protocol = false;  // "tessera" among the subprotocols
  std::string first_subprotocol;          // the first one offered ("" when none)
};
presented_credentials read_credentials(const std::string& authorization, const std::string& target,
                                       const std::string& websocket_protocols);

enum class access_route { client, worker, private_get, open };
// Which rule a request falls under (path without the query).
access_route route_of(const std::string& path, bool websocket_upgrade);

struct access_decision {
  bool allowed = false;
  int status = 200;          // 401 when refused
  std::string code;          // "invalid_api_key", "invalid_join_token"
  std::string message;       // the named reason for a refusal
  std::string principal;     // "key:NAME", "token:NAME", "" when open
  credential_kind kind = credential_kind::api_key;
  std::string credential_id; // id of the entry that matched ("" when open)
  usage_meter_ptr meter;     // API keys only
};

struct access_settings {
  std::string keys_file;    // "" : clients need no key
  std::string tokens_file;  // "" : workers need no token
  bool loopback_only = true;  // the node listens on a loopback address only
};

class access_control {
public:
  // Loads both files (credential_error names a bad one).
  explicit access_control(access_settings settings);

  access_decision check(access_route route, const presented_credentials& presented);
  // Whether an entry of this kind and id is still in its file (after reloads).
  bool still_valid(credential_kind kind, const std::string& id) const;
  // Re-reads a file whose modification time changed; true when anything did.
  // A file that fails to parse keeps the previous entries (logged by the caller).
  bool reload_if_changed(std::string* error = nullptr);
  // An in-memory join token (never written to a file): the node's own workers use it.
  std::string add_ephemeral_token(const std::string& name);

  bool keys_required() const { return !settings_.keys_file.empty(); }
  bool tokens_required() const { return !settings_.tokens_file.empty(); }
  const access_settings& settings() const { return settings_; }
  usage_meter_ptr meter_for(const std::string& key_name) const;

private:
  struct file_state {
    std::string path;
    std::filesystem::file_time_type mtime{};
    bool existed = false;
    std::vector<credential_entry> entries;
  };
  void load(file_state& f);
  const credential_entry* find(credential_kind kind, const std::string& secret) const;  // under mutex_
  access_decision allow_key(const credential_entry& e);                                 // under mutex_

  access_settings settings_;
  mutable std::mutex mutex_;
  file_state keys_, tokens_;
  std::vector<credential_entry> ephemeral_tokens_;
  std::map<std::string, usage_meter_ptr> meters_;  // by key name, kept across reloads
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace tessera::net
