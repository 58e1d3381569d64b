// The challenge both ends of a federation link answer before either accepts
// any other message from the other (no CAF). Each side sends a fresh random
// nonce; the other answers with HMAC-SHA256(secret, context) over that nonce,
// its role ("dialer" / "listener") and its claimed id, so a proof cannot be
// replayed for another nonce, reflected back to its sender, or moved to
// another id. The secret itself never crosses the wire.
#pragma once

#include <string>

namespace tessera::actors {

enum class federation_role { dialer, listener };

// 32 random bytes (OpenSSL's RAND_bytes) as 64 hex digits. Throws std::runtime_error
// when the random generator fails.
std::string make_federation_nonce();

// The proof that the node `id`, in `role`, knows `secret`, for the other side's `nonce` (64 hex digits).
std::string federation_proof(const std::string& secret, federation_role role, const std::string& id,
                             const std::string& nonce);

// True when `proof` is federation_proof(secret, role, id, nonce); compared in constant time.
bool check_federation_proof(const std::string& secret, federation_role role, const std::string& id,
                            const std::string& nonce, const std::string& proof);

}  // namespace tessera::actors
