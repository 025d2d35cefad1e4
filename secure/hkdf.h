#ifndef FEDGE_SECURE_HKDF_H_
#define FEDGE_SECURE_HKDF_H_

// HKDF with HMAC-SHA-256 (RFC 5869), extract-then-expand, through OpenSSL's
// EVP_KDF API. Used to turn X25519 shared secrets into AES keys and PRG
// seeds; `info` separates the uses ("fedge secagg mask seed", ...), so one
// shared secret never feeds two purposes.
//
// Thread-safe (no shared state).

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/secret_bytes.h"

namespace fedge::secure {

inline constexpr size_t kHkdfSha256MaxLength = 255 * 32;

// OKM = HKDF-Expand(HKDF-Extract(salt, ikm), info, length). An empty salt
// means HashLen zero bytes, as in RFC 5869. Errors:
//   InvalidArgument  length is 0 or above kHkdfSha256MaxLength (8160), or
//                    ikm is empty;
//   Internal         OpenSSL failed.
absl::StatusOr<SecretBytes> HkdfSha256(absl::Span<const uint8_t> salt,
                                       absl::Span<const uint8_t> ikm,
                                       absl::Span<const uint8_t> info, size_t length);

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_HKDF_H_
