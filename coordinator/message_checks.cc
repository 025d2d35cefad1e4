// Coordinator's validation of incoming round messages: is this frame from the
// identity the client registered with, for the open round, its model version
// and its cohort. Split from coordinator.cc to keep each file readable.

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

std::optional<std::pair<ErrorCode, std::string>> Coordinator::CheckIdentity(
    const ClientRecord& client) const {
  if (config_.enrolment == nullptr) return std::nullopt;
  if (sender_identity_ != client.identity) {
    // E.g. another enrolled device took over this routing id.
    return {{ErrorCode::kNotRegistered,
             absl::StrCat("this connection's key is not the one client ", client.client_id,
                          " registered with")}};
  }
  absl::Status enrolled = config_.enrolment->Check(sender_identity_, client.client_id);
  if (!enrolled.ok()) {
    return {{ErrorCode::kNotEnrolled,
             absl::StrCat("client ", client.client_id, ": ", enrolled.message())}};
  }
  return std::nullopt;
}

std::optional<std::pair<ErrorCode, std::string>> Coordinator::CheckSender(
    const ClientRecord& client, uint64_t client_id) const {
  if (auto bad = CheckIdentity(client)) return bad;
  if (client_id != client.client_id) {
    return {{ErrorCode::kNotRegistered,
             absl::StrCat("message names client ", client_id, " but this connection is client ",
                          client.client_id)}};
  }
  return std::nullopt;
}

std::optional<std::pair<ErrorCode, std::string>> Coordinator::CheckRoundBinding(
    const ClientRecord& client, uint64_t client_id, uint64_t round,
    uint64_t model_version) const {
  if (auto bad = CheckSender(client, client_id)) return bad;
  if (phase_ != Phase::kTraining || round != round_) {
    return {{ErrorCode::kWrongRound,
             absl::StrCat("message for round ", round, "; ",
                          phase_ == Phase::kTraining ? absl::StrCat("round ", round_, " is open")
                                                     : std::string("no round is open"))}};
  }
  if (model_version != model_version_) {
    return {{ErrorCode::kWrongModelVersion,
             absl::StrCat("message for model version ", model_version, ", the round uses ",
                          model_version_)}};
  }
  if (reported_.count(client.peer)) {
    return {{ErrorCode::kDuplicate,
             absl::StrCat("client ", client_id, " already reported in round ", round_)}};
  }
  if (!pending_.count(client.peer)) {
    return {{ErrorCode::kNotInCohort,
             absl::StrCat("client ", client_id, " is not in round ", round_, "'s cohort")}};
  }
  return std::nullopt;
}

}  // namespace fedge::coordinator
