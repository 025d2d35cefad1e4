#include "coordinator/federated_evaluation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

FederatedEvaluation::FederatedEvaluation(std::vector<std::string> peers, bool has_accuracy,
                                         absl::Time deadline)
    : pending_(peers.begin(), peers.end()),
      asked_(pending_.size()),
      has_accuracy_(has_accuracy),
      deadline_(deadline) {}

std::optional<Refusal> FederatedEvaluation::OnResult(const std::string& peer,
                                                     const protocol::Update& u) {
  if (!u.delta.empty() || !u.control_delta.empty()) {
    return Refusal{ErrorCode::kWrongRound,
                   absl::StrCat("round ", u.round, "'s training is over; it is being evaluated"),
                   false};
  }
  if (reported_.count(peer)) {
    return Refusal{ErrorCode::kDuplicate, "a second evaluation result", false};
  }
  if (!pending_.count(peer)) {
    return Refusal{ErrorCode::kNotInCohort, "this client was not asked to evaluate", false};
  }
  const protocol::LocalMetrics& m = u.metrics;
  if (u.num_examples == 0 || !std::isfinite(m.loss) || !std::isfinite(m.accuracy) ||
      !std::isfinite(m.mse) || !std::isfinite(m.mae)) {
    pending_.erase(peer);
    return Refusal{ErrorCode::kNonFinite,
                   absl::StrCat("evaluation result with ", u.num_examples,
                                " examples or non-finite metrics"),
                   true};
  }
  const double n = static_cast<double>(u.num_examples);
  examples_ += n;
  loss_ += n * m.loss;
  accuracy_ += n * m.accuracy;
  mse_ += n * m.mse;
  mae_ += n * m.mae;
  pending_.erase(peer);
  reported_.insert(peer);
  return std::nullopt;
}

void FederatedEvaluation::Drop(const std::string& peer) { pending_.erase(peer); }

FederatedMetrics FederatedEvaluation::Result() const {
  FederatedMetrics r;
  r.asked = static_cast<uint32_t>(asked_);
  r.clients = static_cast<uint32_t>(reported_.size());
  r.examples = static_cast<int64_t>(examples_);
  r.has_accuracy = has_accuracy_;
  if (examples_ > 0) {
    r.loss = loss_ / examples_;
    r.accuracy = accuracy_ / examples_;
    r.mse = mse_ / examples_;
    r.mae = mae_ / examples_;
  }
  return r;
}

}  // namespace fedge::coordinator
