#ifndef FEDGE_SECURE_SHAMIR_H_
#define FEDGE_SECURE_SHAMIR_H_

// Shamir t-of-n secret sharing (Shamir 1979) of byte strings, as SecAgg uses
// it to share each client's mask seed and mask private key.
//
// Field: integers modulo the Mersenne prime p = 2^61 - 1. The secret is cut
// into 7-byte chunks (56 bits < p; the last chunk zero-padded), each read
// little-endian, and every chunk is shared independently with its own random
// polynomial of degree t - 1 whose coefficients come from a SecureRandom. A
// share is x (1..n) plus one field element per chunk. Any t shares determine
// the secret; t - 1 reveal nothing about it.
//
// Shares come from peers: Reconstruct validates everything and returns an
// error for malformed or inconsistent input; it never crashes or CHECKs.
// Given more than t shares it verifies that all lie on one polynomial.
// Given exactly t shares, a corrupted share is detected only if it pushes a
// chunk out of range, so shares should be authenticated in transit (AEAD).
//
// Thread-safe (no shared state) as long as `random` is.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/random.h"
#include "secure/secret_bytes.h"

namespace fedge::secure {

inline constexpr uint64_t kShamirPrime = (uint64_t{1} << 61) - 1;
inline constexpr size_t kShamirChunkBytes = 7;
inline constexpr int kShamirMaxShares = 65535;

// Number of field elements per share for a secret of `secret_length` bytes.
constexpr size_t ShamirChunkCount(size_t secret_length) {
  return (secret_length + kShamirChunkBytes - 1) / kShamirChunkBytes;
}

// One share. Its values are wiped when the share is destroyed or assigned over.
struct ShamirShare {
  uint32_t x = 0;           // evaluation point, 1..n; 0 would be the secret itself
  std::vector<uint64_t> y;  // one value in [0, kShamirPrime) per chunk

  ShamirShare() = default;
  ShamirShare(uint32_t x_in, std::vector<uint64_t> y_in) : x(x_in), y(std::move(y_in)) {}
  ShamirShare(const ShamirShare&) = default;
  ShamirShare(ShamirShare&&) noexcept = default;
  ShamirShare& operator=(const ShamirShare& other);
  ShamirShare& operator=(ShamirShare&& other) noexcept;
  ~ShamirShare();
};

// Splits `secret` into `num_shares` shares with x = 1..num_shares, any
// `threshold` of which reconstruct it. threshold == 1 gives every holder the
// secret. Errors:
//   InvalidArgument  empty secret; not 1 <= threshold <= num_shares <= kShamirMaxShares;
//   Internal         `random` failed, or kept returning out-of-range values.
absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(absl::Span<const uint8_t> secret,
                                                     int threshold, int num_shares,
                                                     SecureRandom& random);

// Recovers a `secret_length`-byte secret from at least `threshold` shares
// (any order, any subset). `threshold` and `secret_length` must be the values
// used to split: a length with the same chunk count is not always detected.
// Errors:
//   InvalidArgument     threshold outside [1, kShamirMaxShares], secret_length 0,
//                       more than kShamirMaxShares shares, a share with x == 0,
//                       two shares with the same x, a share whose number of values
//                       is not ShamirChunkCount(secret_length), a value >= kShamirPrime;
//   FailedPrecondition  fewer than `threshold` shares;
//   DataLoss            the shares are inconsistent: an extra share is off the
//                       polynomial, or the result is not a valid encoding
//                       (chunk >= 2^56 or non-zero padding).
absl::StatusOr<SecretBytes> ShamirReconstruct(absl::Span<const ShamirShare> shares,
                                              int threshold, size_t secret_length);

// Like ShamirSplit, but share i is evaluated at xs[i] instead of i + 1, so the
// x coordinate can be the holder's own index (SecAgg+ shares among a client's
// neighbours, whose indices are scattered over 1..n). The polynomials of all
// chunks are evaluated together, and the random coefficients drawn in one
// call. Errors as ShamirSplit, plus InvalidArgument for a zero or repeated x.
absl::StatusOr<std::vector<ShamirShare>> ShamirSplitAt(absl::Span<const uint8_t> secret,
                                                       int threshold,
                                                       absl::Span<const uint32_t> xs,
                                                       SecureRandom& random);

// Reconstruction through one fixed set of holders, for many secrets. The
// Lagrange coefficients at zero, lambda_i = prod_{j != i} x_j / (x_j - x_i),
// are computed once in Create (O(t^2)); each Reconstruct then costs O(t) per
// chunk. SecAgg's server reconstructs hundreds of secrets from the same
// surviving holders; with ShamirReconstruct each would cost O(t^2).
//
// The threshold is xs.size(): exactly that many shares are combined and no
// extra share is checked for consistency, so shares must be authenticated in
// transit (SecAgg seals them with AES-GCM) or the result checked otherwise
// (SecAgg compares a reconstructed private key with its advertised public key).
// Immutable after Create; const methods are thread-safe.
class ShamirReconstructor {
 public:
  // InvalidArgument for an empty set, more than kShamirMaxShares, x == 0 or a repeated x.
  static absl::StatusOr<ShamirReconstructor> Create(absl::Span<const uint32_t> xs);

  const std::vector<uint32_t>& xs() const { return xs_; }

  // ys[i] holds the values of the share with x = xs()[i]. Errors:
  //   InvalidArgument  ys.size() != xs().size(), secret_length 0, a share whose number
  //                    of values is not ShamirChunkCount(secret_length), a value >= p;
  //   DataLoss         the result is not a valid encoding (chunk >= 2^56 or non-zero
  //                    padding): corrupt shares or a wrong secret length.
  absl::StatusOr<SecretBytes> Reconstruct(absl::Span<const absl::Span<const uint64_t>> ys,
                                          size_t secret_length) const;

 private:
  ShamirReconstructor(std::vector<uint32_t> xs, std::vector<uint64_t> lambda)
      : xs_(std::move(xs)), lambda_(std::move(lambda)) {}

  std::vector<uint32_t> xs_;
  std::vector<uint64_t> lambda_;  // Lagrange coefficient of each holder at zero
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_SHAMIR_H_
