// HMAC-SHA256 proofs of the federation's shared secret (OpenSSL).
#include "actors/federation_auth.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tessera::actors {

namespace {

std::string to_hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

}  // namespace

std::string make_federation_nonce() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("federation: the random generator failed to make a nonce");
  return to_hex(bytes, sizeof bytes);
}

std::string federation_proof(const std::string& secret, federation_role role, const std::string& id,
                             const std::string& nonce) {
  // Length-prefixed fields: no two (role, id, nonce) share a message.
  std::string message = "tessera-federation-v1";
  for (const std::string& field : {std::string(role == federation_role::dialer ? "dialer" : "listener"), id, nonce})
    message += "|" + std::to_string(field.size()) + ":" + field;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len))
    throw std::runtime_error("federation: HMAC-SHA256 failed");
  return to_hex(mac, len);
}

bool check_federation_proof(const std::string& secret, federation_role role, const std::string& id,
                            const std::string& nonce, const std::string& proof) {
  auto expected = federation_proof(secret, role, id, nonce);
  return proof.size() == expected.size() && CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) == 0;
}

}  // namespace tessera::actors
