#include "client/model_gate.h"

#include "absl/strings/str_cat.h"

namespace fedge::client {

std::optional<protocol::ErrorReply> ModelGate::Check(const protocol::Task& task) {
  if (verifier_ == nullptr) return std::nullopt;
  protocol::ErrorReply refusal;
  refusal.round = task.round;
  // The cheap check first; a rollback is refused whatever its signature.
  if (highest_verified_.has_value() && task.model_version < *highest_verified_) {
    refusal.code = protocol::ErrorCode::kRollback;
    refusal.message = absl::StrCat("round ", task.round, ": model version ", task.model_version,
                                   " is older than version ", *highest_verified_,
                                   " this device already verified; refusing a rollback");
    return refusal;
  }
  absl::Status s = verifier_->Verify(task.model_version, task.model, task.signature);
  if (!s.ok()) {
    refusal.code = protocol::ErrorCode::kBadSignature;
    refusal.message = absl::StrCat("round ", task.round, ": ", s.message());
    return refusal;
  }
  highest_verified_ = std::max(highest_verified_.value_or(0), task.model_version);
  return std::nullopt;
}

}  // namespace fedge::client
