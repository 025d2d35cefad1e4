#ifndef FEDGE_COORDINATOR_FEDERATED_EVALUATION_H_
#define FEDGE_COORDINATOR_FEDERATED_EVALUATION_H_

// Federated evaluation (sans I/O): after a round completes, a share of the
// clients holding a held-out split (protocol::kCapEvaluate) evaluate the new
// model on it and report their example counts and mean metrics in an Update
// with an empty delta (TrainingConfig::evaluate_only). This collects those
// reports, refuses what does not belong, and combines them as means
// weighted by examples: with every client's held-out split, exactly the
// metrics of the same model on their union.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/round.h"
#include "coordinator/round_report.h"
#include "protocol/messages.h"

namespace fedge::coordinator {

class FederatedEvaluation {
 public:
  FederatedEvaluation(std::vector<std::string> peers, bool has_accuracy, absl::Time deadline);

  // Takes `peer`'s report, or says why not: a training update (non-empty
  // delta) or a second report (WRONG_ROUND / DUPLICATE), a peer not asked
  // (NOT_IN_COHORT), no examples or non-finite metrics (NON_FINITE, drops it).
  std::optional<Refusal> OnResult(const std::string& peer, const protocol::Update& u);
  // `peer` will not report (left, went silent, failed to evaluate).
  void Drop(const std::string& peer);

  bool Done(absl::Time now) const { return pending_.empty() || now >= deadline_; }
  absl::Time deadline() const { return deadline_; }
  size_t asked() const { return asked_; }
  // The reports so far, combined (clients 0 when none arrived).
  FederatedMetrics Result() const;

 private:
  std::set<std::string> pending_;
  std::set<std::string> reported_;
  const size_t asked_;
  const bool has_accuracy_;
  const absl::Time deadline_;
  double examples_ = 0;
  double loss_ = 0, accuracy_ = 0, mse_ = 0, mae_ = 0;  // sums of n_i * metric_i
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_FEDERATED_EVALUATION_H_
