#ifndef FEDGE_SECURE_ED25519_H_
#define FEDGE_SECURE_ED25519_H_

// Ed25519 signatures (RFC 8032, pure Ed25519) over OpenSSL's EVP_PKEY API. In
// SecAgg's malicious-server variant each client signs its advertised keys and
// its list of surviving peers, so the server cannot forge them.
//
// Errors:
//   InvalidArgument  a seed or public key is not 32 bytes, a signature is not
//                    64 bytes;
//   Unauthenticated  Verify: the signature does not verify for this message
//                    and key (forged, altered, or not a valid encoding);
//   Internal         OpenSSL failed unexpectedly; errors of `random`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/openssl_util.h"
#include "secure/random.h"

namespace fedge::secure {

inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
using Ed25519PublicKey = std::array<uint8_t, kEd25519PublicKeySize>;
using Ed25519Signature = std::array<uint8_t, kEd25519SignatureSize>;

// A private signing key and its public key. Move-only. Sign is const and safe
// to call from several threads at once; OpenSSL wipes the key on destruction.
class Ed25519SigningKey {
 public:
  // A fresh key whose 32-byte seed (RFC 8032 "private key") comes from `random`.
  static absl::StatusOr<Ed25519SigningKey> Create(SecureRandom& random);

  // The key for a given 32-byte seed.
  static absl::StatusOr<Ed25519SigningKey> FromSeed(absl::Span<const uint8_t> seed);

  const Ed25519PublicKey& public_key() const { return public_key_; }

  // The deterministic RFC 8032 signature of `message`.
  absl::StatusOr<Ed25519Signature> Sign(absl::Span<const uint8_t> message) const;

 private:
  Ed25519SigningKey(internal::EvpPkeyPtr key, const Ed25519PublicKey& public_key)
      : key_(std::move(key)), public_key_(public_key) {}

  internal::EvpPkeyPtr key_;  // never null
  Ed25519PublicKey public_key_;
};

// A public key to verify signatures with. Move-only. Verify is const and safe
// to call from several threads at once.
class Ed25519VerifyingKey {
 public:
  // Checks only the length; a public key that is not a valid point makes every
  // Verify fail with Unauthenticated.
  static absl::StatusOr<Ed25519VerifyingKey> Create(absl::Span<const uint8_t> public_key);

  const Ed25519PublicKey& public_key() const { return public_key_; }

  // OK when `signature` is a valid signature of `message` under this key.
  absl::Status Verify(absl::Span<const uint8_t> message,
                      absl::Span<const uint8_t> signature) const;

 private:
  Ed25519VerifyingKey(internal::EvpPkeyPtr key, const Ed25519PublicKey& public_key)
      : key_(std::move(key)), public_key_(public_key) {}

  internal::EvpPkeyPtr key_;  // never null
  Ed25519PublicKey public_key_;
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_ED25519_H_
