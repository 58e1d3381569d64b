// Streaming SHA-256 (OpenSSL) for content ids and shard hashes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace tessera::model {

class sha256 {
public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Lower-case hex of the digest; the object cannot be updated afterwards.
  std::string hex_digest();

private:
  struct state;
  std::unique_ptr<state> state_;
};

// Hex digest of a whole file, read in chunks; throws model_error if unreadable.
std::string sha256_file(const std::string& path);
std::string sha256_hex(std::string_view bytes);

}  // namespace tessera::model
