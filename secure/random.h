#ifndef FEDGE_SECURE_RANDOM_H_
#define FEDGE_SECURE_RANDOM_H_

// SecureRandom: the seam through which every secret in secure/ (private keys,
// nonces, Shamir coefficients) gets its randomness, so tests can inject a
// deterministic fake (tests/secure/fake_random.h).
//
// Production code uses SecureRandom::Default(), which draws from OpenSSL's
// CSPRNG (RAND_bytes). Do not confuse it with AesCtrPrng (secure/prg.h), which
// is a deterministic expander of a seed and never a source of fresh entropy.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fedge::secure {

class SecureRandom {
 public:
  virtual ~SecureRandom() = default;

  // Fills `out` with random bytes. Internal when the generator fails (e.g.
  // OpenSSL could not seed itself); on error `out` must not be used.
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;

  // The process-wide OpenSSL-backed generator. Thread-safe; never destroyed.
  static SecureRandom& Default();
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_RANDOM_H_
