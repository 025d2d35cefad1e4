#ifndef FEDGE_CLIENT_SIGNATURE_MODEL_VERIFIER_H_
#define FEDGE_CLIENT_SIGNATURE_MODEL_VERIFIER_H_

// Plugs the coordinator's Ed25519 model signatures (protocol/model_signature.h)
// into the model store: a stored model is trusted only if the pinned
// coordinator key signed it at its version. Kept apart from model_store.h so
// the store itself does not depend on the signature scheme.

#include <memory>
#include <utility>

#include "client/model_store.h"
#include "protocol/model_signature.h"

namespace fedge::client {

// Thread-safe (protocol::ModelVerifier::Verify is).
class SignatureModelVerifier final : public ModelVerifier {
 public:
  // `verifier` must not be null.
  explicit SignatureModelVerifier(std::shared_ptr<const protocol::ModelVerifier> verifier)
      : verifier_(std::move(verifier)) {}

  // Unauthenticated when the signature is missing, malformed or does not verify.
  absl::Status Verify(uint64_t version, const protocol::ModelPayload& payload,
                      absl::Span<const uint8_t> signature) const override {
    protocol::ModelSignature sig;
    sig.signature.assign(reinterpret_cast<const char*>(signature.data()), signature.size());
    return verifier_->Verify(version, payload, sig);
  }

 private:
  std::shared_ptr<const protocol::ModelVerifier> verifier_;
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_SIGNATURE_MODEL_VERIFIER_H_
