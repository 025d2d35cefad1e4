// Coordinator::Snapshot and Coordinator::Restore: the coordinator's state
// between rounds, for checkpoints (coordinator/checkpoint.h).

#include <sstream>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

CoordinatorSnapshot Coordinator::Snapshot() const {
  CoordinatorSnapshot s;
  s.round = round_;
  s.completed_rounds = completed_rounds_;
  s.model_version = model_version_;
  s.consecutive_failures = consecutive_failures_;
  s.model = model_;
  s.optimizer.kind = static_cast<uint32_t>(optimizer_->kind());
  s.optimizer.state = optimizer_->SaveState();
  s.control_variate = control_;
  std::ostringstream rng;
  rng << rng_;
  s.cohort_rng = rng.str();
  if (dp_ != nullptr) s.privacy_state = dp_->SaveState();
  for (const std::string& peer : registry_.PeersByClientId()) {
    const ClientRecord* r = registry_.Find(peer);
    if (r != nullptr) s.clients.push_back({r->client_id, r->num_examples});
  }
  return s;
}

absl::Status Coordinator::Restore(CoordinatorSnapshot snapshot) {
  if (round_ != 0 || registry_.size() != 0 || phase_ != Phase::kWaitingForClients) {
    return absl::FailedPreconditionError(
        "Coordinator::Restore must come before any frame or tick");
  }
  if (snapshot.model.architecture_id != model_.architecture_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds a model of architecture ", snapshot.model.architecture_id,
        ", this coordinator is configured for ", model_.architecture_id));
  }
  if (snapshot.model.task != model_.task) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint's model solves task ", protocol::DescribeTask(snapshot.model.task),
        "; this coordinator is configured for ", protocol::DescribeTask(model_.task),
        " (--task, --input_shape, --loss)"));
  }
  if (absl::Status s = protocol::ValidateManifest(snapshot.model.manifest,
                                                  snapshot.model.weights.size());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint model: ", s.message()));
  }
  if (snapshot.model.weights.size() != model_.weights.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the checkpoint's model has ", snapshot.model.weights.size(),
                     " weights, the configured one ", model_.weights.size()));
  }
  if (!aggregation::AllFinite(snapshot.model.weights.data(), snapshot.model.weights.size())) {
    return absl::InvalidArgumentError("the checkpoint's model has NaN or infinite weights");
  }
  if (snapshot.optimizer.kind != static_cast<uint32_t>(optimizer_->kind())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds the state of server optimiser kind ", snapshot.optimizer.kind,
        "; this run's --strategy=", strategy_->name(), " uses ",
        aggregation::ServerOptimizerName(optimizer_->kind()), " (kind ",
        static_cast<uint32_t>(optimizer_->kind()), "): resume with the strategy it was run with"));
  }
  if (snapshot.completed_rounds > snapshot.round ||
      snapshot.model_version < snapshot.completed_rounds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inconsistent checkpoint counters: round ", snapshot.round, ", completed rounds ",
        snapshot.completed_rounds, ", model version ", snapshot.model_version));
  }
  std::mt19937_64 rng;
  if (!snapshot.cohort_rng.empty()) {
    std::istringstream in(snapshot.cohort_rng);
    in >> rng;
    if (in.fail()) {
      return absl::InvalidArgumentError("the checkpoint's cohort generator state is malformed");
    }
  } else {
    rng.seed(config_.seed + snapshot.round);
  }
  // The architecture bytes come from the configuration when the checkpoint
  // did not keep them (they are identified by architecture_id either way).
  if (snapshot.model.architecture.empty()) snapshot.model.architecture = model_.architecture;
  if (snapshot.control_variate.size() != control_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds a control variate of ", snapshot.control_variate.size(),
        " values; this run's --strategy=", strategy_->name(), " needs ", control_.size(),
        control_.empty() ? " (resume a SCAFFOLD checkpoint with --strategy=scaffold)" : ""));
  }
  if (!aggregation::AllFinite(snapshot.control_variate.data(), snapshot.control_variate.size())) {
    return absl::InvalidArgumentError("the checkpoint's control variate has NaN or infinite values");
  }
  // Before anything is restored: the budget already spent must carry over,
  // and a run without DP must not continue one that had it (or the reverse).
  if (snapshot.privacy_state.empty() != (dp_ == nullptr)) {
    return absl::InvalidArgumentError(
        dp_ == nullptr ? "the checkpoint was written by a run with --dp; resume it with the same "
                         "--dp flags so its privacy budget carries over"
                       : "the checkpoint was written by a run without --dp: its rounds spent an "
                         "unaccounted privacy budget, so DP cannot be started from it");
  }
  if (dp_ != nullptr) {
    if (absl::Status s = dp_->RestoreState(snapshot.privacy_state); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", s.message()));
    }
  }
  if (absl::Status s = optimizer_->RestoreState(snapshot.optimizer.state); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", s.message()));
  }
  model_ = std::move(snapshot.model);
  control_ = std::move(snapshot.control_variate);
  rng_ = rng;
  round_ = snapshot.round;
  completed_rounds_ = snapshot.completed_rounds;
  model_version_ = snapshot.model_version;
  consecutive_failures_ = snapshot.consecutive_failures;
  signed_version_.reset();
  FEDGE_LOG(kInfo,
            "resumed after round %d: %d rounds completed, model version %d, %d clients were "
            "registered",
            round_, completed_rounds_, model_version_, snapshot.clients.size());
  if (completed_rounds_ >= config_.rounds) {
    Finish(absl::StrCat("completed ", completed_rounds_, " rounds (before the restart)"));
  } else if (consecutive_failures_ >= config_.max_failed_rounds) {
    Finish(absl::StrCat(consecutive_failures_, " consecutive rounds failed (before the restart)"));
  }
  return absl::OkStatus();
}

bool Coordinator::SaveCheckpoint() {
  if (config_.checkpoint_sink == nullptr) return true;
  absl::Status s = config_.checkpoint_sink->Save(
      Snapshot(), report_, std::vector<RoundReport>(unreported_.begin(), unreported_.end()));
  if (s.ok()) return true;
  phase_ = Phase::kFinished;
  halted_ = true;
  open_round_.reset();
  finish_reason_ = absl::StrCat("cannot checkpoint round ", round_, ": ", s.message());
  FEDGE_LOG(kError, "halting without publishing model version %d: %s", model_version_,
            finish_reason_);
  return false;
}

}  // namespace fedge::coordinator
