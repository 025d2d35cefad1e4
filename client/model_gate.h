#ifndef FEDGE_CLIENT_MODEL_GATE_H_
#define FEDGE_CLIENT_MODEL_GATE_H_

// Decides whether a task's model may be trained: its signature must verify
// with the pinned coordinator key (protocol/model_signature.h) and its model
// version must not be lower than the highest version already verified, so a
// replayed or forged older model cannot roll the device back. An equal
// version is fine (a failed round is retried with the same model).
//
// Without a verifier (--insecure and no pinned key) every task passes and no
// version is recorded. Not thread-safe: the client host's I/O thread owns it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "protocol/messages.h"
#include "protocol/model_signature.h"

namespace fedge::client {

class ModelGate {
 public:
  explicit ModelGate(std::shared_ptr<const protocol::ModelVerifier> verifier)
      : verifier_(std::move(verifier)) {}

  // nullopt: train it (and its version now counts as verified). Otherwise the
  // refusal to send the coordinator: BAD_SIGNATURE or ROLLBACK, with why.
  std::optional<protocol::ErrorReply> Check(const protocol::Task& task);
  // The same for a task whose model is `model` (its own is then empty). When
  // `shared` owns `model` (the immutable model a connection carried for the
  // round's tasks), a model verified through it is recognised by identity,
  // without comparing its bytes, and kept without a copy.
  std::optional<protocol::ErrorReply> Check(
      const protocol::Task& task, const protocol::ModelPayload& model,
      const std::shared_ptr<const protocol::ModelPayload>& shared);
  // The same for a check-in client's GlobalModel (round 0 in the refusal).
  std::optional<protocol::ErrorReply> Check(const protocol::GlobalModel& model);

  // Versions below `version` are refused as rollbacks from now on (a device
  // that verified it in an earlier run, e.g. its model store's newest).
  void RefuseBelow(uint64_t version);

  bool verifies() const { return verifier_ != nullptr; }
  std::optional<uint64_t> highest_verified() const { return highest_verified_; }

 private:
  std::optional<protocol::ErrorReply> Check(
      uint64_t round, uint64_t model_version, const protocol::ModelPayload& model,
      const protocol::ModelSignature& signature,
      const std::shared_ptr<const protocol::ModelPayload>& shared);

  // Whether `model` is, byte for byte in everything the signature covers,
  // the model that last verified with the same version and signature.
  bool SameAsLastVerified(uint64_t model_version, const protocol::ModelPayload& model,
                          const protocol::ModelSignature& signature,
                          const protocol::ModelPayload* shared) const;

  std::shared_ptr<const protocol::ModelVerifier> verifier_;
  std::optional<uint64_t> highest_verified_;
  // The last model that verified (without its architecture bytes, which the
  // signature does not cover): a process hosting many clients receives the
  // same model for each of them in a round, and comparing bytes is ~10x
  // cheaper than hashing them again.
  // When it was verified through a shared model, that model is kept instead
  // of a copy (`shared`; `model` is then empty).
  struct Verified {
    uint64_t version = 0;
    std::string signature;
    protocol::ModelPayload model;
    std::shared_ptr<const protocol::ModelPayload> shared;
  };
  std::optional<Verified> last_verified_;
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_MODEL_GATE_H_
