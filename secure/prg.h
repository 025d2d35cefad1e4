#ifndef FEDGE_SECURE_PRG_H_
#define FEDGE_SECURE_PRG_H_

// AesCtrPrng: a DETERMINISTIC pseudo-random generator. It expands a 32-byte
// seed into a long stream: the AES-256-CTR keystream with key = seed and an
// initial counter block of 16 zero bytes (the whole 128-bit block is the
// big-endian counter). Two instances with the same seed produce the same
// stream, on every machine -- that is its purpose: in SecAgg a client and
// the server expand the same agreed seed into the same mask.
//
// NEVER use it where real randomness is needed (keys, nonces, Shamir
// coefficients): use SecureRandom. Its output is only as unpredictable as its
// seed, and a seed must be used for one stream only.
//
// NOT thread-safe: Fill advances the stream. One instance per thread.
//
// The stream is independent of how it is requested: Fill(3 bytes) then
// Fill(5 bytes) gives the same 8 bytes as Fill(8 bytes). Fill(Span<uint32_t>)
// consumes 4 stream bytes per word and reads them little-endian, also on
// big-endian hosts.
//
// Errors: InvalidArgument for a seed that is not 32 bytes (or a counter block
// that is not 16); Internal when OpenSSL fails (then the stream position is
// unspecified and the instance should be discarded).

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/openssl_util.h"

namespace fedge::secure {

class AesCtrPrng {
 public:
  static constexpr size_t kSeedSize = 32;
  static constexpr size_t kCounterSize = 16;

  static absl::StatusOr<AesCtrPrng> Create(absl::Span<const uint8_t> seed);

  // The stream that starts at `initial_counter` instead of zero. ONLY for
  // known-answer tests against NIST SP 800-38A.
  static absl::StatusOr<AesCtrPrng> CreateWithCounterForTesting(
      absl::Span<const uint8_t> seed, absl::Span<const uint8_t> initial_counter);

  // Overwrites `out` with the next out.size() bytes of the stream. Encrypts a
  // cache-resident block of zeros in large chunks straight into `out`.
  absl::Status Fill(absl::Span<uint8_t> out);

  // Overwrites `out` with the next 4 * out.size() bytes, as little-endian words.
  absl::Status Fill(absl::Span<uint32_t> out);

 private:
  explicit AesCtrPrng(internal::EvpCipherCtxPtr ctx) : ctx_(std::move(ctx)) {}

  internal::EvpCipherCtxPtr ctx_;  // never null; holds the key schedule, wiped on free
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_PRG_H_
