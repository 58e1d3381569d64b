// Bodies of net/credentials.hpp: secrets from OpenSSL's RAND_bytes, SHA-256
// through EVP, and the one-line-per-entry credentials file.
#include "net/credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessera::net {

namespace {

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

bool is_hex(const std::string& s) {
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c)))
      return false;
  return !s.empty();
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1)
    throw credential_error("cannot draw random bytes (OpenSSL RAND_bytes failed)");
  return to_hex(buf.data(), bytes);
}

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

const char* prefix_of(credential_kind kind) { return kind == credential_kind::api_key ? "tsk_" : "tsj_"; }

bool plain_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

void save_credentials(const std::string& path, const std::vector<credential_entry>& entries, credential_kind kind) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw credential_error(path + ": cannot write " + tmp);
    ::chmod(tmp.c_str(), 0600);
    out << format_credentials(entries, kind);
    if (!out) throw credential_error(path + ": write to " + tmp + " failed");
  }
  fs::rename(tmp, target);
}

}  // namespace

std::string hash_secret(const std::string& salt_hex, const std::string& secret) {
  const std::string input = hex_to_bytes(salt_hex) + secret;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &n, EVP_sha256(), nullptr) != 1)
    throw credential_error("SHA-256 failed (OpenSSL EVP_Digest)");
  return to_hex(digest, n);
}

issued_credential make_credential(credential_kind kind, const std::string& name, credential_limits limits) {
  if (!plain_name(name))
    throw credential_error("name '" + name + "' must be 1-64 characters of letters, digits, '-', '_' or '.'");
  issued_credential out;
  out.entry.id = random_hex(4);
  out.entry.name = name;
  out.entry.salt_hex = random_hex(16);
  out.entry.limits = limits;
  out.entry.created_unix =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  out.secret = prefix_of(kind) + out.entry.id + "_" + random_hex(20);
  out.entry.hash_hex = hash_secret(out.entry.salt_hex, out.secret);
  return out;
}

std::optional<std::string> secret_id(credential_kind kind, const std::string& secret) {
  const std::string prefix = prefix_of(kind);
  // prefix + 8 hex + '_' + 40 hex
  if (secret.size() != prefix.size() + 8 + 1 + 40 || secret.compare(0, prefix.size(), prefix) != 0 ||
      secret[prefix.size() + 8] != '_')
    return std::nullopt;
  std::string id = secret.substr(prefix.size(), 8);
  if (!is_hex(id) || !is_hex(secret.substr(prefix.size() + 9))) return std::nullopt;
  return id;
}

std::vector<credential_entry> parse_credentials(const std::string& text, const std::string& origin) {
  std::vector<credential_entry> out;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    credential_entry e;
    std::string extra;
    if (!(fields >> e.id >> e.name >> e.salt_hex >> e.hash_hex >> e.limits.concurrent >>
          e.limits.tokens_per_minute >> e.created_unix) ||
        (fields >> extra))
      throw credential_error(origin + ":" + std::to_string(number) +
                             ": expected 'id name salt sha256 concurrent tokens_per_minute created', got '" + line +
                             "'");
    if (e.id.size() != 8 || !is_hex(e.id) || e.salt_hex.size() != 32 || !is_hex(e.salt_hex) ||
        e.hash_hex.size() != 64 || !is_hex(e.hash_hex))
      throw credential_error(origin + ":" + std::to_string(number) + ": entry '" + e.name +
                             "' has a malformed id, salt or hash");
    out.push_back(std::move(e));
  }
  return out;
}

std::string format_credentials(const std::vector<credential_entry>& entries, credential_kind kind) {
  std::ostringstream out;
  out << "# tessera " << (kind == credential_kind::api_key ? "API keys" : "worker join tokens")
      << " (salted SHA-256; manage with `tessera " << (kind == credential_kind::api_key ? "keys" : "tokens")
      << "`)\n# id name salt sha256 concurrent tokens_per_minute created_unix\n";
  for (const auto& e : entries)
    out << e.id << ' ' << e.name << ' ' << e.salt_hex << ' ' << e.hash_hex << ' ' << e.limits.concurrent << ' '
        << e.limits.tokens_per_minute << ' ' << e.created_unix << '\n';
  return out.str();
}

std::vector<credential_entry> load_credentials(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    throw credential_error(path + ": cannot read the credentials file");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_credentials(ss.str(), path);
}

issued_credential add_credential(const std::string& path, credential_kind kind, const std::string& name,
                                 credential_limits limits) {
  auto entries = load_credentials(path);
  for (const auto& e : entries)
    if (e.name == name) throw credential_error(path + ": '" + name + "' exists already (revoke it first)");
  auto issued = make_credential(kind, name, limits);
  entries.push_back(issued.entry);
  save_credentials(path, entries, kind);
  return issued;
}

bool revoke_credential(const std::string& path, credential_kind kind, const std::string& name) {
  auto entries = load_credentials(path);
  const auto before = entries.size();
  entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; }),
                entries.end());
  if (entries.size() == before) return false;
  save_credentials(path, entries, kind);
  return true;
}

const credential_entry* find_credential(const std::vector<credential_entry>& entries, credential_kind kind,
                                        const std::string& secret) {
  const auto id = secret_id(kind, secret);
  if (!id) return nullptr;
  for (const auto& e : entries) {
    if (e.id != *id) continue;
    const std::string got = hash_secret(e.salt_hex, secret);
    if (got.size() == e.hash_hex.size() && CRYPTO_memcmp(got.data(), e.hash_hex.data(), got.size()) == 0) return &e;
  }
  return nullptr;
}

}  // namespace tessera::net
