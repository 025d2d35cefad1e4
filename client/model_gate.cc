#include "client/model_gate.h"

#include "absl/strings/str_cat.h"

namespace fedge::client {

std::optional<protocol::ErrorReply> ModelGate::Check(const protocol::Task& task) {
  return Check(task.round, task.model_version, task.model, task.signature, nullptr);
}

std::optional<protocol::ErrorReply> ModelGate::Check(
    const protocol::Task& task, const protocol::ModelPayload& model,
    const std::shared_ptr<const protocol::ModelPayload>& shared) {
  return Check(task.round, task.model_version, model, task.signature,
               shared.get() == &model ? shared : nullptr);
}

std::optional<protocol::ErrorReply> ModelGate::Check(const protocol::GlobalModel& model) {
  return Check(0, model.model_version, model.model, model.signature, nullptr);
}

void ModelGate::RefuseBelow(uint64_t version) {
  if (verifier_ == nullptr) return;
  highest_verified_ = std::max(highest_verified_.value_or(0), version);
}

std::optional<protocol::ErrorReply> ModelGate::Check(
    uint64_t round, uint64_t model_version, const protocol::ModelPayload& model,
    const protocol::ModelSignature& signature,
    const std::shared_ptr<const protocol::ModelPayload>& shared) {
  if (verifier_ == nullptr) return std::nullopt;
  protocol::ErrorReply refusal;
  refusal.round = round;
  // The cheap check first; a rollback is refused whatever its signature.
  if (highest_verified_.has_value() && model_version < *highest_verified_) {
    refusal.code = protocol::ErrorCode::kRollback;
    refusal.message = absl::StrCat("round ", round, ": model version ", model_version,
                                   " is older than version ", *highest_verified_,
                                   " this device already verified; refusing a rollback");
    return refusal;
  }
  if (!SameAsLastVerified(model_version, model, signature, shared.get())) {
    absl::Status s = verifier_->Verify(model_version, model, signature);
    if (!s.ok()) {
      refusal.code = protocol::ErrorCode::kBadSignature;
      refusal.message = absl::StrCat("round ", round, ": ", s.message());
      return refusal;
    }
    Verified v;
    v.version = model_version;
    v.signature = signature.signature;
    if (shared != nullptr) {
      v.shared = shared;
    } else {
      v.model.manifest = model.manifest;
      v.model.architecture_id = model.architecture_id;
      v.model.weights = model.weights;
      v.model.mask = model.mask;
      v.model.task = model.task;
    }
    last_verified_ = std::move(v);
  }
  highest_verified_ = std::max(highest_verified_.value_or(0), model_version);
  return std::nullopt;
}

bool ModelGate::SameAsLastVerified(uint64_t model_version, const protocol::ModelPayload& model,
                                   const protocol::ModelSignature& signature,
                                   const protocol::ModelPayload* shared) const {
  if (!last_verified_.has_value()) return false;
  const Verified& v = *last_verified_;
  if (v.version != model_version || v.signature != signature.signature) return false;
  // The very object verified: immutable, and kept alive by v.shared.
  if (shared != nullptr && v.shared.get() == shared) return true;
  return protocol::SameModelBytes(v.shared != nullptr ? *v.shared : v.model, model,
                                  /*architecture=*/false);
}

}  // namespace fedge::client
