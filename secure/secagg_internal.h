#ifndef FEDGE_SECURE_SECAGG_INTERNAL_H_
#define FEDGE_SECURE_SECAGG_INTERNAL_H_

// Internal to secure/: what SecAggClient and SecAggServer share -- the
// neighbour graph, the key derivations, the share plaintext layout. Not a
// public API; tests may use it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "secure/hkdf.h"
#include "secure/mask_prg.h"
#include "secure/secagg_messages.h"
#include "secure/x25519.h"

namespace fedge::secure::internal {

// The public neighbour graph of a session, built once: O(n) memory, O(1)
// adjacency test. kFull: the complete graph. kPlus: the Harary graph H(k, n)
// on a ring whose order is a seeded permutation of 1..n.
class SecAggGraph {
 public:
  // REQUIRES: ValidateSecAggConfig(config).ok().
  explicit SecAggGraph(const SecAggConfig& config);

  uint32_t n() const { return n_; }
  bool full() const { return full_; }
  // u, v in 1..n.
  bool Adjacent(uint32_t u, uint32_t v) const;
  // Sorted neighbours of u (not u itself).
  std::vector<uint32_t> Neighbors(uint32_t u) const;
  // Number of neighbours of every client: n - 1 or k.
  uint32_t degree() const { return degree_; }

 private:
  uint32_t n_;
  bool full_;
  uint32_t degree_;
  std::vector<uint32_t> ring_;      // ring_[position] = client, kPlus only
  std::vector<uint32_t> position_;  // position_[client] = its place on the ring
};

// The permutation of 1..n behind the kPlus ring: splitmix64 seeded with
// `seed`, Fisher-Yates with rejection sampling. Portable and reproducible.
std::vector<uint32_t> SecAggRing(uint32_t n, uint64_t seed);

// HKDF-SHA256 salted with the session id, for the two pairwise derivations.
class SecAggKdf {
 public:
  static absl::StatusOr<SecAggKdf> Create(const SecAggConfig& config);

  // AES-256-GCM key for the shares exchanged between u and v (either order).
  absl::Status ShareKey(absl::Span<const uint8_t> shared_secret, uint32_t u, uint32_t v,
                        absl::Span<uint8_t> key32) const;
  // Mask seed of the pair (u, v) (either order); its first kMaskKeySize bytes key the PRG.
  absl::Status MaskSeed(absl::Span<const uint8_t> shared_secret, uint32_t u, uint32_t v,
                        absl::Span<uint8_t> seed32) const;

 private:
  explicit SecAggKdf(HkdfSha256WithSalt hkdf) : hkdf_(std::move(hkdf)) {}
  absl::Status Derive(const char* label, absl::Span<const uint8_t> shared_secret, uint32_t u,
                      uint32_t v, absl::Span<uint8_t> out) const;

  HkdfSha256WithSalt hkdf_;
};

inline constexpr size_t kSecAggSeedSize = 32;

// AEAD associated data of a share bundle: session_id || owner || holder (big-endian).
std::array<uint8_t, kSecAggSessionIdSize + 8> ShareAssociatedData(const SecAggConfig& config,
                                                                  uint32_t owner,
                                                                  uint32_t holder);

// The plaintext of one share bundle (kSecAggSharePlaintextSize bytes): owner ||
// holder || masking-key share values || self-mask-seed share values.
struct ShareBundle {
  uint32_t owner = 0;
  uint32_t holder = 0;
  std::array<uint64_t, kSecAggShareChunks> key_share{};
  std::array<uint64_t, kSecAggShareChunks> seed_share{};
};
void EncodeShareBundle(const ShareBundle& bundle, absl::Span<uint8_t> out);
// InvalidArgument on a wrong length.
absl::Status DecodeShareBundle(absl::Span<const uint8_t> in, ShareBundle& bundle);

// acc +/-= PRG(seed): the self mask or a pairwise mask.
inline absl::Status ApplyMask(absl::Span<const uint8_t> seed32, MaskSign sign,
                              absl::Span<uint32_t> acc) {
  return AddMask(seed32.subspan(0, kMaskKeySize), sign, acc);
}

}  // namespace fedge::secure::internal

#endif  // FEDGE_SECURE_SECAGG_INTERNAL_H_
