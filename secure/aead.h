#ifndef FEDGE_SECURE_AEAD_H_
#define FEDGE_SECURE_AEAD_H_

// AES-256-GCM authenticated encryption through OpenSSL's EVP_CIPHER API. In
// SecAgg it protects the Shamir shares one client sends another through the
// server.
//
// Sealed format:  nonce (12 bytes) || ciphertext (= plaintext length) || tag (16 bytes)
// The nonce is drawn from a SecureRandom for every message. With random
// 96-bit nonces one key may seal at most 2^32 messages (NIST SP 800-38D
// 8.3); SecAgg keys seal a handful, each derived for one pair of clients.
//
// Errors:
//   InvalidArgument  the key is not 32 bytes; a sealed message is shorter
//                    than 28 bytes; a plaintext or ciphertext exceeds GCM's
//                    2^36 - 32 byte limit; a nonce (testing entry point) is
//                    not 12 bytes;
//   DataLoss         Open: authentication failed -- the message, its nonce,
//                    its tag or the associated data were altered, or the key
//                    is wrong. No plaintext is released;
//   Internal         OpenSSL failed unexpectedly; errors of `random`.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/random.h"
#include "secure/secret_bytes.h"

namespace fedge::secure {

inline constexpr size_t kAes256GcmKeySize = 32;
inline constexpr size_t kAes256GcmNonceSize = 12;
inline constexpr size_t kAes256GcmTagSize = 16;
inline constexpr size_t kAes256GcmOverhead = kAes256GcmNonceSize + kAes256GcmTagSize;

// Holds one key (wiped on destruction). Move-only. Seal and Open are const
// and safe to call from several threads at once (each call has its own
// OpenSSL context), provided the SecureRandom passed to Seal is thread-safe.
class Aes256Gcm {
 public:
  static absl::StatusOr<Aes256Gcm> Create(absl::Span<const uint8_t> key);

  // Encrypts `plaintext` and authenticates it together with
  // `associated_data` (which is not encrypted and not included in the output).
  absl::StatusOr<std::vector<uint8_t>> Seal(absl::Span<const uint8_t> plaintext,
                                            absl::Span<const uint8_t> associated_data,
                                            SecureRandom& random) const;

  // Checks and decrypts a sealed message. The plaintext is returned as
  // SecretBytes because what we seal (key shares) is secret. Lengths are
  // checked before any cryptography; garbage input yields an error, never a
  // crash.
  absl::StatusOr<SecretBytes> Open(absl::Span<const uint8_t> sealed,
                                   absl::Span<const uint8_t> associated_data) const;

  // Seal with a caller-chosen nonce, same output format. ONLY for known-answer
  // tests: reusing a nonce under one key destroys GCM's confidentiality and
  // authenticity.
  absl::StatusOr<std::vector<uint8_t>> SealWithNonceForTesting(
      absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> plaintext,
      absl::Span<const uint8_t> associated_data) const;

 private:
  explicit Aes256Gcm(SecretBytes key) : key_(std::move(key)) {}

  SecretBytes key_;  // kAes256GcmKeySize bytes
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_AEAD_H_
