// See limits.hpp.
#include "net/limits.hpp"

#include <cctype>
#include <mutex>
#include <unordered_map>

namespace tessera::net {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct authority {
  std::string host;  // lower case; IPv6 keeps its brackets
  std::string port;  // "" when absent
};

// "host", "host:port", "[v6]", "[v6]:port"; nullopt when malformed.
std::optional<authority> parse_authority(std::string_view text) {
  authority a;
  if (text.empty()) return std::nullopt;
  std::string_view rest;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = lower(text.substr(0, close + 1));
    rest = text.substr(close + 1);
  } else {
    const auto colon = text.find(':');
    a.host = lower(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (a.host.empty()) return std::nullopt;
  for (unsigned char c : a.host)
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '[' || c == ']' || c == ':')) return std::nullopt;
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
    for (char c : rest.substr(1))
      if (c < '0' || c > '9') return std::nullopt;
    a.port = std::string(rest.substr(1));
  }
  return a;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  if (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0) return true;
  // 127.0.0.0/8, dotted decimal only
  if (host.compare(0, 4, "127.") != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

const char* default_port(const std::string& scheme) { return scheme == "https" || scheme == "wss" ? "443" : "80"; }

}  // namespace

std::optional<std::string> origin_refusal(std::string_view origin_header, std::string_view host_header,
                                          const std::vector<std::string>& allowed) {
  const std::string_view origin = trim(origin_header);
  if (origin.empty()) return std::nullopt;  // not a browser: no Origin header
  const std::string shown = "'" + escape_text(origin, 120) + "'";
  const std::string refused = "websocket origin " + shown + " is not allowed (same origin, loopback or node.allowed_origins only)";
  std::string normal = lower(origin);
  while (!normal.empty() && normal.back() == '/') normal.pop_back();
  for (const auto& a : allowed) {
    std::string entry = lower(trim(a));
    while (!entry.empty() && entry.back() == '/') entry.pop_back();
    if (entry == "*" || entry == normal) return std::nullopt;
  }
  const auto sep = normal.find("://");
  if (sep == std::string::npos) return refused;  // "null", or not an origin at all
  const std::string scheme = normal.substr(0, sep);
  if (scheme != "http" && scheme != "https") return refused;
  const auto from = parse_authority(std::string_view(normal).substr(sep + 3));
  if (!from) return refused;
  if (is_loopback_host(from->host)) return std::nullopt;
  if (const auto host = parse_authority(trim(host_header))) {
    const std::string origin_port = from->port.empty() ? default_port(scheme) : from->port;
    const std::string host_port = host->port.empty() ? default_port(scheme) : host->port;
    if (host->host == from->host && host_port == origin_port) return std::nullopt;
  }
  return refused;
}

struct connection_counter::table {
  std::mutex mutex;
  std::unordered_map<std::string, std::uint32_t> open;
};

connection_counter::connection_counter(std::uint32_t limit) : table_(std::make_shared<table>()), limit_(limit) {}

std::shared_ptr<void> connection_counter::acquire(const std::string& address) {
  {
    std::lock_guard<std::mutex> lock(table_->mutex);
    auto& n = table_->open[address];
    if (n >= limit_) {
      if (n == 0) table_->open.erase(address);
      return nullptr;
    }
    ++n;
  }
  // The slot releases its count when the last owner lets go; it keeps the table alive meanwhile.
  struct slot {
    slot(std::shared_ptr<table> table, std::string addr) : t(std::move(table)), address(std::move(addr)) {}
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    std::shared_ptr<table> t;
    std::string address;
    ~slot() {
      std::lock_guard<std::mutex> lock(t->mutex);
      auto it = t->open.find(address);
      if (it != t->open.end() && --it->second == 0) t->open.erase(it);
    }
  };
  return std::make_shared<slot>(table_, address);
}

std::uint32_t connection_counter::open(const std::string& address) const {
  std::lock_guard<std::mutex> lock(table_->mutex);
  auto it = table_->open.find(address);
  return it == table_->open.end() ? 0 : it->second;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;  // overlong, surrogate or out of range
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  static const char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[c >> 4];
  out += digits[c & 15];
}

}  // namespace

std::string escape_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  std::size_t i = 0;
  for (; i < text.size() && out.size() < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c < 0x20 || c == 0x7f) append_hex(out, c);
    else if (c < 0x80) out += static_cast<char>(c);
    else if (const auto n = utf8_sequence(text, i)) {
      out.append(text.substr(i, n));
      i += n - 1;
    } else {
      append_hex(out, c);
    }
  }
  if (i < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace tessera::net
