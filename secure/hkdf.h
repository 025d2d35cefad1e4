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
#include <utility>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/openssl_util.h"
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

// HKDF-SHA256 under one fixed salt, for deriving many keys: SecAgg derives a
// key for every pair of clients, all salted with the session id. The salt's
// HMAC pads are hashed once at creation and the SHA-256 implementation is
// fetched once, so a 32-byte Derive costs ~1 us against ~5 us for
// HkdfSha256. Output is identical to HkdfSha256(salt, ikm, info, out.size()).
//
// Move-only. Derive is const and thread-safe (each call has its own contexts).
// The salt is treated as public: its pad states are not wiped; every
// intermediate value derived from `ikm` is.
class HkdfSha256WithSalt {
 public:
  // Internal when OpenSSL fails.
  static absl::StatusOr<HkdfSha256WithSalt> Create(absl::Span<const uint8_t> salt);

  // Fills `out` with OKM. InvalidArgument when out is empty or longer than
  // kHkdfSha256MaxLength, or ikm is empty; Internal when OpenSSL fails.
  absl::Status Derive(absl::Span<const uint8_t> ikm, absl::Span<const uint8_t> info,
                      absl::Span<uint8_t> out) const;

 private:
  HkdfSha256WithSalt(internal::EvpMdPtr md, internal::EvpMdCtxPtr inner,
                     internal::EvpMdCtxPtr outer)
      : md_(std::move(md)), inner_(std::move(inner)), outer_(std::move(outer)) {}

  internal::EvpMdPtr md_;        // SHA-256, fetched once
  internal::EvpMdCtxPtr inner_;  // SHA-256 state after absorbing salt ^ ipad
  internal::EvpMdCtxPtr outer_;  // ... salt ^ opad
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_HKDF_H_
