// Credentials: API keys for clients and join tokens for workers. A secret is
// shown once, when it is issued; the file keeps only a salted SHA-256 of it.
// No Beast and no CAF here: `tessera keys|tokens` and the gateway share it.
//
// Secret format: "<prefix>_<id>_<40 hex chars>" where prefix is "tsk" (API key)
// or "tsj" (join token) and id (8 hex chars) finds the file entry in one lookup.
// File format (one entry a line, fields separated by one space, '#' comments):
//   id name salt_hex sha256_hex concurrent tokens_per_minute created_unix
// where sha256_hex = SHA-256(salt bytes || secret) and 0 means "no limit".
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::net {

enum class credential_kind { api_key, join_token };

struct credential_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Per-credential limits (API keys); 0 means unlimited.
struct credential_limits {
  uint32_t concurrent = 0;         // requests running at once
  uint32_t tokens_per_minute = 0;  // prompt + completion tokens over the last 60 s
};

struct credential_entry {
  std::string id;    // 8 hex chars, also inside the secret
  std::string name;  // what `list` and logs show; unique in a file
  std::string salt_hex;
  std::string hash_hex;
  credential_limits limits;
  int64_t created_unix = 0;
};

// A secret just issued and its entry (the secret itself is not stored).
struct issued_credential {
  credential_entry entry;
  std::string secret;
};

// Lower-case hex of SHA-256(salt || secret).
std::string hash_secret(const std::string& salt_hex, const std::string& secret);

// A fresh random secret and its entry (not yet in any file).
issued_credential make_credential(credential_kind kind, const std::string& name, credential_limits limits);

// The id inside a secret of this kind, or nullopt when it is not shaped like one.
std::optional<std::string> secret_id(credential_kind kind, const std::string& secret);

// Parses a credentials file's text; `origin` names it in errors (line numbers too).
std::vector<credential_entry> parse_credentials(const std::string& text, const std::string& origin);
std::string format_credentials(const std::vector<credential_entry>& entries, credential_kind kind);

// File operations for `tessera keys` / `tessera tokens`. A missing file reads
// as empty. Writes go to a temporary file renamed over the old one (mode 0600).
std::vector<credential_entry> load_credentials(const std::string& path);
// Throws credential_error when `name` exists already or is not a plain word.
issued_credential add_credential(const std::string& path, credential_kind kind, const std::string& name,
                                 credential_limits limits);
// Returns false when no entry has that name.
bool revoke_credential(const std::string& path, credential_kind kind, const std::string& name);

// Finds the entry whose hash matches `secret` (constant-time compare), or nullptr.
const credential_entry* find_credential(const std::vector<credential_entry>& entries, credential_kind kind,
                                        const std::string& secret);

}  // namespace tessera::net
