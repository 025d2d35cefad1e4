#ifndef FEDGE_PROTOCOL_MODEL_SIGNATURE_H_
#define FEDGE_PROTOCOL_MODEL_SIGNATURE_H_

// Signed global models. The coordinator signs every model version it sends
// with its Ed25519 key (coordinator.key); a device verifies the signature with
// the key it pinned (coordinator.pub) before it trains, so a model that was
// altered anywhere between the two, or produced by anyone else, is refused.
//
// The signed message (86 bytes; 118 for a pruned model) is domain-separated and binds the version:
//   "fedge-model-v2"                                  14 bytes
//   model version                                     u64 little-endian
//   SHA-256 of the canonical manifest + architecture id + task encoding
//   SHA-256 of the weights (float32 little-endian, manifest order)
//   a pruned model only: SHA-256 of its mask (compression/pruning.h)  32 bytes
// The canonical encoding is, all integers little-endian:
//   u64 tensor count; per tensor: u64 name length, name, u64 rank,
//   rank x i64 dims, u8 dtype, u8 role, u8 normalization flag; then u64
//   architecture id length, id; then the task (protocol/task_spec.h): u64
//   input rank, its dims, u8 input dtype, u8 target kind, u64 classes, u64
//   target rank, its dims, u8 loss.
// The architecture bytes themselves are not hashed again: the id names them
// (a TorchScript id is the SHA-256 of the archive, checked by the client).
// What the task asks of the client (round, learning rate, epochs) is not
// signed; the CURVE transport authenticates it.
//
// Rollback refusal (a version lower than one already verified) is the
// client's rule, in client/client_host.cc.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "protocol/model_payload.h"
#include "secure/ed25519.h"

namespace fedge::protocol {

inline constexpr char kModelSignatureDomain[] = "fedge-model-v2";

// The exact bytes that are signed for `model` at `version`.
std::string ModelSigningMessage(uint64_t version, const ModelPayload& model);

// Signs model versions with the coordinator's Ed25519 key. Sign is const and
// safe to call from several threads at once.
class ModelSigner {
 public:
  // From the 32-byte Ed25519 seed (CoordinatorKey::signing_secret).
  // InvalidArgument if it is not 32 bytes.
  static absl::StatusOr<std::unique_ptr<ModelSigner>> Create(absl::Span<const uint8_t> seed);

  // Internal only if OpenSSL fails.
  absl::StatusOr<ModelSignature> Sign(uint64_t version, const ModelPayload& model) const;
  const secure::Ed25519PublicKey& public_key() const { return key_.public_key(); }

 private:
  explicit ModelSigner(secure::Ed25519SigningKey key) : key_(std::move(key)) {}
  secure::Ed25519SigningKey key_;
};

// Verifies model signatures with a pinned coordinator key. Verify is const
// and safe to call from several threads at once.
class ModelVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<ModelVerifier>> Create(
      const secure::Ed25519PublicKey& coordinator_key);

  // OK when `signature` is the pinned key's signature of `model` at
  // `version`. Unauthenticated when it is missing, the wrong size, or does
  // not verify (tampered weights, manifest or version, or another key).
  absl::Status Verify(uint64_t version, const ModelPayload& model,
                      const ModelSignature& signature) const;

 private:
  explicit ModelVerifier(secure::Ed25519VerifyingKey key) : key_(std::move(key)) {}
  secure::Ed25519VerifyingKey key_;
};

}  // namespace fedge::protocol

#endif  // FEDGE_PROTOCOL_MODEL_SIGNATURE_H_
