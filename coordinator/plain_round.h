#ifndef FEDGE_COORDINATOR_PLAIN_ROUND_H_
#define FEDGE_COORDINATOR_PLAIN_ROUND_H_

// A round without secure aggregation: each member's Update (its delta and
// example count) is bounded in norm when the strategy says so and folded into
// the strategy's aggregation rule (streaming FedAvg, or a robust rule that
// buffers the cohort). Closes when every pending member has reported, when
// `target` updates arrived (over-selection), or at the deadline; completes
// with at least `quorum` updates, fails otherwise.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aggregation/aggregator.h"
#include "coordinator/dp_mechanism.h"
#include "coordinator/round.h"

namespace fedge::coordinator {

class PlainRound final : public Round {
 public:
  struct Settings {
    uint64_t round = 0;
    size_t target = 0;  // updates that close the round early
    size_t quorum = 1;  // updates needed to complete
    absl::Time deadline;
    size_t model_size = 0;
    // Norm bounding over these parameter ranges (0 = off).
    double clip_norm = 0;
    std::vector<std::pair<uint64_t, uint64_t>> parameter_ranges;
    // Central or local differential privacy (not owned; null: off): every
    // update is clipped by it over all its coordinates and counts once,
    // whatever its example count.
    DpMechanism* dp = nullptr;
  };

  // `aggregator` (the strategy's rule, reused across rounds for its storage)
  // is Reset here and must outlive the round. With `control` (SCAFFOLD, else
  // null) every update must carry its control-variate change, averaged there
  // with equal weights as Karimireddy et al. do.
  PlainRound(Settings settings, aggregation::Aggregator* aggregator,
             aggregation::Aggregator* control = nullptr);

  void PrepareTask(protocol::Task*) const override {}
  std::optional<Refusal> OnUpdate(const std::string& peer, protocol::Update& update) override;
  std::optional<Refusal> OnSecAgg(const std::string& peer,
                                  secure::SecAggClientMessage&& body) override;
  void Drop(const std::string&) override {}
  Frames Advance(absl::Time now, const CohortProgress& cohort) override;
  Outcome outcome() const override { return outcome_; }
  std::string failure() const override { return failure_; }
  absl::Time deadline() const override { return settings_.deadline; }
  absl::StatusOr<std::vector<std::string>> Finish(absl::Span<float> delta,
                                                  RoundReport* report) override;
  absl::Status ControlDelta(absl::Span<float> mean) const override;
  size_t inputs_accepted() const override { return aggregator_->count(); }

 private:
  const Settings settings_;
  aggregation::Aggregator* const aggregator_;
  aggregation::Aggregator* const control_;
  double train_loss_sum_ = 0;     // example-weighted, from client metrics
  double train_loss_weight_ = 0;  // the weight of the updates that carried a loss
  Outcome outcome_ = Outcome::kRunning;
  std::string failure_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_PLAIN_ROUND_H_
