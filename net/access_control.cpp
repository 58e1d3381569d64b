// Bodies of net/access_control.hpp.
#include "net/access_control.hpp"

#include <algorithm>
#include <cctype>

namespace tessera::net {

namespace {

constexpr auto kMinute = std::chrono::seconds(60);

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// %XX and '+' decoding of one query value.
std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

access_decision refuse(const char* code, std::string message) {
  access_decision d;
  d.allowed = false;
  d.status = 401;
  d.code = code;
  d.message = std::move(message);
  return d;
}

access_decision allow_token(const credential_entry& e) {
  access_decision d;
  d.allowed = true;
  d.principal = "token:" + e.name;
  d.kind = credential_kind::join_token;
  d.credential_id = e.id;
  return d;
}

access_decision allow_open() {
  access_decision d;
  d.allowed = true;
  return d;
}

}  // namespace

// ---- usage_meter ----

usage_meter::usage_meter(std::string key_name, credential_limits limits)
    : key_name_(std::move(key_name)), limits_(limits) {}

uint64_t usage_meter::window_sum(clock::time_point now) const {
  while (!window_.empty() && now - window_.front().first >= kMinute) window_.pop_front();
  uint64_t sum = 0;
  for (const auto& [at, n] : window_) sum += n;
  return sum;
}

std::optional<std::string> usage_meter::refusal(clock::time_point now) const {
  if (limits_.concurrent && running_ >= limits_.concurrent)
    return "key '" + key_name_ + "' is at its limit of " + std::to_string(limits_.concurrent) +
           " concurrent requests";
  if (limits_.tokens_per_minute) {
    const uint64_t used = window_sum(now);
    if (used >= limits_.tokens_per_minute) {
      const auto wait = std::chrono::duration_cast<std::chrono::seconds>(kMinute - (now - window_.front().first));
      return "key '" + key_name_ + "' used " + std::to_string(used) + " tokens in the last minute, its limit is " +
             std::to_string(limits_.tokens_per_minute) + " tokens per minute; retry in " +
             std::to_string(wait.count() + 1) + " s";
    }
  }
  return std::nullopt;
}

std::optional<std::string> usage_meter::begin(clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto why = refusal(now)) return why;
  ++running_;
  return std::nullopt;
}

std::optional<std::string> usage_meter::check(clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refusal(now);
}

void usage_meter::end(uint64_t tokens, clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) --running_;
  if (tokens) window_.emplace_back(now, tokens);
}

void usage_meter::set_limits(credential_limits limits) {
  std::lock_guard<std::mutex> lock(mutex_);
  limits_ = limits;
}

uint32_t usage_meter::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

uint64_t usage_meter::tokens_last_minute(clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return window_sum(now);
}

// ---- reading a request ----

presented_credentials read_credentials(const std::string& authorization, const std::string& target,
                                       const std::string& websocket_protocols) {
  presented_credentials p;
  const std::string auth = trim(authorization);
  if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0))
    p.bearer = trim(auth.substr(7));
  const auto q = target.find('?');
  if (q != std::string::npos) {
    std::size_t at = q + 1;
    while (at <= target.size()) {
      auto amp = target.find('&', at);
      if (amp == std::string::npos) amp = target.size();
      const std::string pair = target.substr(at, amp - at);
      const auto eq = pair.find('=');
      const std::string name = pair.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
      if (name == "key") p.query_key = value;
      if (name == "token") p.query_token = value;
      at = amp + 1;
    }
  }
  std::size_t at = 0;
  while (at < websocket_protocols.size()) {
    auto comma = websocket_protocols.find(',', at);
    if (comma == std::string::npos) comma = websocket_protocols.size();
    const std::string proto = trim(websocket_protocols.substr(at, comma - at));
    if (!proto.empty() && p.first_subprotocol.empty()) p.first_subprotocol = proto;
    if (proto == "tessera") p.offered_tessera_protocol = true;
    constexpr std::string_view key_prefix = "tessera.key.";
    if (proto.compare(0, key_prefix.size(), key_prefix) == 0) p.subprotocol_key = proto.substr(key_prefix.size());
    at = comma + 1;
  }
  return p;
}

access_route route_of(const std::string& path, bool websocket_upgrade) {
  if (websocket_upgrade) {
    if (path == "/ws/worker") return access_route::worker;
    if (path == "/ws/generate") return access_route::client;
    return access_route::open;
  }
  if (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/models")
    return access_route::client;
  if (path == "/api/status" || path == "/metrics" || path.compare(0, 8, "/shards/") == 0)
    return access_route::private_get;
  return access_route::open;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.compare(0, 4, "127.") == 0;
}

// ---- access_control ----

access_control::access_control(access_settings settings) : settings_(std::move(settings)) {
  keys_.path = settings_.keys_file;
  tokens_.path = settings_.tokens_file;
  if (!keys_.path.empty()) load(keys_);
  if (!tokens_.path.empty()) load(tokens_);
}

void access_control::load(file_state& f) {
  std::error_code ec;
  f.existed = std::filesystem::exists(f.path, ec);
  f.mtime = f.existed ? std::filesystem::last_write_time(f.path, ec) : std::filesystem::file_time_type{};
  f.entries = load_credentials(f.path);
}

bool access_control::reload_if_changed(std::string* error) {
  bool changed = false;
  for (file_state* f : {&keys_, &tokens_}) {
    if (f->path.empty()) continue;
    std::error_code ec;
    const bool exists = std::filesystem::exists(f->path, ec);
    const auto mtime = exists ? std::filesystem::last_write_time(f->path, ec) : std::filesystem::file_time_type{};
    if (exists == f->existed && mtime == f->mtime) continue;
    try {
      auto entries = load_credentials(f->path);
      std::lock_guard<std::mutex> lock(mutex_);
      f->entries = std::move(entries);
      f->existed = exists;
      f->mtime = mtime;
      if (f == &keys_)
        for (const auto& e : f->entries)
          if (auto it = meters_.find(e.name); it != meters_.end()) it->second->set_limits(e.limits);
      changed = true;
    } catch (const std::exception& e) {
      if (error) *error = e.what();
      f->existed = exists;  // report a broken file once per change, keep the old entries
      f->mtime = mtime;
    }
  }
  return changed;
}

std::string access_control::add_ephemeral_token(const std::string& name) {
  auto issued = make_credential(credential_kind::join_token, name, {});
  std::lock_guard<std::mutex> lock(mutex_);
  ephemeral_tokens_.push_back(issued.entry);
  return issued.secret;
}

const credential_entry* access_control::find(credential_kind kind, const std::string& secret) const {
  if (kind == credential_kind::api_key) return find_credential(keys_.entries, kind, secret);
  if (auto* e = find_credential(tokens_.entries, kind, secret)) return e;
  return find_credential(ephemeral_tokens_, kind, secret);
}

access_decision access_control::allow_key(const credential_entry& e) {
  access_decision d;
  d.allowed = true;
  d.principal = "key:" + e.name;
  d.kind = credential_kind::api_key;
  d.credential_id = e.id;
  auto& meter = meters_[e.name];
  if (!meter) meter = std::make_shared<usage_meter>(e.name, e.limits);
  d.meter = meter;
  return d;
}

access_decision access_control::check(access_route route, const presented_credentials& p) {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (route) {
    case access_route::open:
      return allow_open();
    case access_route::client: {
      if (!keys_required()) return allow_open();
      const std::string& secret =
          !p.bearer.empty() ? p.bearer : !p.query_key.empty() ? p.query_key : p.subprotocol_key;
      if (secret.empty())
        return refuse("invalid_api_key",
                      "missing API key: send 'Authorization: Bearer KEY', the WebSocket subprotocol "
                      "'tessera.key.KEY' or '?key=KEY'");
      if (secret_id(credential_kind::join_token, secret))
        return refuse("invalid_api_key", "a worker join token is not an API key");
      if (auto* e = find(credential_kind::api_key, secret)) return allow_key(*e);
      return refuse("invalid_api_key", "invalid API key: not in the node's keys file (unknown or revoked)");
    }
    case access_route::worker: {
      if (!tokens_required()) return allow_open();
      const std::string& secret = !p.query_token.empty() ? p.query_token : p.bearer;
      if (secret.empty())
        return refuse("invalid_join_token",
                      "missing join token: join through the node's join link (it carries ?token=...)");
      if (auto* e = find(credential_kind::join_token, secret)) return allow_token(*e);
      return refuse("invalid_join_token", "invalid join token: unknown or revoked");
    }
    case access_route::private_get: {
      if (settings_.loopback_only || (!keys_required() && !tokens_required())) return allow_open();
      for (const std::string* s : {&p.bearer, &p.query_key, &p.query_token}) {
        if (s->empty()) continue;
        if (keys_required())
          if (auto* e = find(credential_kind::api_key, *s)) return allow_key(*e);
        if (auto* e = find(credential_kind::join_token, *s)) return allow_token(*e);
      }
      return refuse("invalid_api_key",
                    "this node listens beyond loopback: /api/status, /metrics and shards need an API key or a "
                    "worker join token (Authorization: Bearer ..., ?key= or ?token=)");
    }
  }
  return refuse("invalid_api_key", "unknown route");
}

bool access_control::still_valid(credential_kind kind, const std::string& id) const {
  if (id.empty()) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto has = [&](const std::vector<credential_entry>& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& e) { return e.id == id; });
  };
  if (kind == credential_kind::api_key) return has(keys_.entries);
  return has(tokens_.entries) || has(ephemeral_tokens_);
}

usage_meter_ptr access_control::meter_for(const std::string& key_name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = meters_.find(key_name);
  return it == meters_.end() ? nullptr : it->second;
}

}  // namespace tessera::net
