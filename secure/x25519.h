#ifndef FEDGE_SECURE_X25519_H_
#define FEDGE_SECURE_X25519_H_

// X25519 Diffie-Hellman (RFC 7748) over OpenSSL's EVP_PKEY API. In SecAgg
// each client advertises two X25519 public keys: one to agree on pairwise
// mask seeds, one to agree on the keys that encrypt its Shamir shares.
//
// The shared secret returned here is the raw X25519 output; it is not
// uniformly random and must go through a KDF (secure/hkdf.h) before it is used
// as a key or seed.
//
// Errors:
//   InvalidArgument  a private or public key is not 32 bytes, or the peer's
//                    public key is a low-order point (the shared secret would
//                    be all zeros, RFC 7748 section 6.1);
//   Internal         OpenSSL failed unexpectedly (allocation, provider).

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/openssl_util.h"
#include "secure/random.h"
#include "secure/secret_bytes.h"

namespace fedge::secure {

inline constexpr size_t kX25519KeySize = 32;
using X25519PublicKey = std::array<uint8_t, kX25519KeySize>;

// A private key and its public key. Move-only. Const methods are safe to call
// from several threads at once (each call uses its own OpenSSL context); the
// private key is freed and wiped by OpenSSL when the pair is destroyed.
class X25519Agreement;

class X25519KeyPair {
 public:
  // A fresh key pair whose 32 private-key bytes come from `random` (X25519
  // clamps any 32 bytes into a valid scalar). Errors as `random`, or Internal.
  static absl::StatusOr<X25519KeyPair> Create(SecureRandom& random);

  // The key pair for a given 32-byte private key (RFC 7748 scalar, before
  // clamping). This is also how a public key is computed from a private one.
  static absl::StatusOr<X25519KeyPair> FromPrivateKey(absl::Span<const uint8_t> private_key);

  const X25519PublicKey& public_key() const { return public_key_; }

  // The raw 32-byte private key, e.g. to secret-share it. Internal on failure.
  absl::StatusOr<SecretBytes> ExportPrivateKey() const;

  // X25519(private key, peer_public_key): 32 bytes, identical on both sides.
  absl::StatusOr<SecretBytes> SharedSecret(absl::Span<const uint8_t> peer_public_key) const;

 private:
  friend class X25519Agreement;
  X25519KeyPair(internal::EvpPkeyPtr key, const X25519PublicKey& public_key)
      : key_(std::move(key)), public_key_(public_key) {}

  internal::EvpPkeyPtr key_;  // never null
  X25519PublicKey public_key_;
};

// Agreement of one private key with many peers, as SecAgg does (every client
// with each neighbour; the server with every survivor for each dropped
// client). The OpenSSL derivation context and the peer-key object are set up
// once and reused, which saves ~5-10 us of the ~45 us a SharedSecret call
// costs. Results and errors are those of X25519KeyPair::SharedSecret.
//
// Move-only; keeps its own reference to the private key, so the pair may be
// destroyed first. NOT thread-safe: each call mutates the contexts.
class X25519Agreement {
 public:
  static absl::StatusOr<X25519Agreement> Create(const X25519KeyPair& key);

  // Writes X25519(private key, peer_public_key) into `out` (32 bytes; wiped on error).
  absl::Status SharedSecret(absl::Span<const uint8_t> peer_public_key, absl::Span<uint8_t> out);

 private:
  X25519Agreement(internal::EvpPkeyCtxPtr ctx, internal::EvpPkeyPtr peer)
      : ctx_(std::move(ctx)), peer_(std::move(peer)) {}

  internal::EvpPkeyCtxPtr ctx_;  // derive context of the private key
  internal::EvpPkeyPtr peer_;    // public-key object whose bytes are replaced per call
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_X25519_H_
