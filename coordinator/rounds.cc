// Coordinator: the round lifecycle (select a cohort, send tasks, close,
// aggregate, checkpoint, fail, finish). Split from coordinator.cc, which has
// the dispatch and one handler per message kind.

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

// ---- Rounds ------------------------------------------------------------------

void Coordinator::MaybeStartRound(absl::Time now) {
  if (phase_ != Phase::kWaitingForClients) return;
  std::vector<std::string> peers = SelectablePeers();
  if (peers.size() < config_.min_clients) return;
  const size_t target = RoundTarget(peers.size());
  const size_t cohort = CohortSize(target, peers.size());
  if (absl::Status fits = CheckStrategyFits(*strategy_, config_.strategy, config_.secure.enabled,
                                            cohort, model_.weights.size());
      !fits.ok()) {
    ++round_;
    phase_ = Phase::kTraining;
    round_start_ = now;
    report_ = RoundReport();
    report_.round = round_;
    FailRound(now, std::string(fits.message()));
    return;
  }
  round_target_ = std::min(target, cohort);
  if (peers.size() > cohort) {
    std::shuffle(peers.begin(), peers.end(), rng_);
    peers.resize(cohort);
  }
  ++round_;
  phase_ = Phase::kTraining;
  round_start_ = now;
  round_deadline_ = now + config_.round_timeout;
  pending_.clear();
  reported_.clear();
  train_loss_sum_ = 0;
  aggregator_->Reset(model_.weights.size());
  report_ = RoundReport();
  report_.round = round_;
  report_.selected = static_cast<uint32_t>(peers.size());
  for (const std::string& peer : peers) pending_.insert(peer);
  cohort_ = peers;
  secure_round_.reset();
  if (config_.secure.enabled) {
    std::vector<SecureRound::Member> members;
    for (const std::string& peer : peers) {
      const ClientRecord* r = registry_.Find(peer);
      if (r != nullptr) members.push_back({peer, r->client_id, r->num_examples});
    }
    absl::StatusOr<std::unique_ptr<SecureRound>> secure =
        SecureRound::Start(config_.secure, round_, std::move(members), model_.weights.size(),
                           rng_(), now, round_deadline_);
    if (!secure.ok()) {
      FailRound(now, std::string(secure.status().message()));
      return;
    }
    secure_round_ = *std::move(secure);
  }

  protocol::Task task;
  task.round = round_;
  task.model_version = model_version_;
  task.config = config_.training;
  strategy_->ConfigureTask(&task.config);
  task.config.seed = config_.seed * 1000003u + round_;
  task.deadline_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(config_.round_timeout));
  if (secure_round_) task.secure = secure_round_->task();
  if (absl::Status s = SignModelVersion(); !s.ok()) {
    FailRound(now, absl::StrCat("cannot sign model version ", model_version_, ": ", s.message()));
    return;
  }
  task.signature = model_signature_;
  // Two encodings at most per round: with and without the architecture bytes.
  std::string architecture = std::move(model_.architecture);
  task.model = std::move(model_);
  std::shared_ptr<const std::string> without = std::make_shared<const std::string>(protocol::Encode(task));
  std::shared_ptr<const std::string> with;
  for (const std::string& peer : peers) {
    ClientRecord* r = registry_.Find(peer);
    if (r == nullptr) continue;
    r->has_model = true;  // what a check-in device stores
    r->model_version = model_version_;
    if (r->cached_architectures.count(task.model.architecture_id)) {
      SendTo(peer, without);
    } else {
      if (!with) {
        task.model.architecture = architecture;
        with = std::make_shared<const std::string>(protocol::Encode(task));
        task.model.architecture.clear();
      }
      SendTo(peer, with);
    }
  }
  model_ = std::move(task.model);
  model_.architecture = std::move(architecture);
  FEDGE_LOG(kDebug, "round %d started with %d clients", round_, peers.size());
  const uint64_t started = round_;
  for (const std::string& peer : SelectablePeers()) {
    ClientRecord* r = registry_.Find(peer);
    if (r->checks_in && !pending_.count(peer)) {
      SendRetryLater(*r, absl::StrCat("not selected for round ", started));
    }
  }
  MaybeCloseRound(now);
}

size_t Coordinator::RoundTarget(size_t live) const {
  if (config_.clients_per_round != 0) return config_.clients_per_round;
  // Never below the quorum, or the round could not close.
  return std::max<size_t>(config_.quorum,
                          static_cast<size_t>(std::ceil(config_.fraction * live)));
}

size_t Coordinator::CohortSize(size_t target, size_t live) const {
  const size_t over = static_cast<size_t>(std::ceil(target * (1 + config_.over_select)));
  return std::min(live, std::max(target, over));
}

absl::Status Coordinator::SignModelVersion() {
  if (config_.model_signer == nullptr || signed_version_ == model_version_) {
    return absl::OkStatus();
  }
  absl::StatusOr<protocol::ModelSignature> sig =
      config_.model_signer->Sign(model_version_, model_);
  if (!sig.ok()) return sig.status();
  model_signature_ = *std::move(sig);
  signed_version_ = model_version_;
  return absl::OkStatus();
}

void Coordinator::DropFromRound(const std::string& peer, const char* why) {
  if (phase_ == Phase::kTraining && pending_.erase(peer)) {
    if (secure_round_) secure_round_->Drop(peer);
    ++report_.dropped;
    FEDGE_LOG(kInfo, "round %d: client at %s dropped from the cohort (%s)", round_,
              absl::CHexEscape(peer), why);
  }
}

void Coordinator::AdvanceSecureRound(absl::Time now) {
  for (auto& [peer, frame] : secure_round_->Advance(now)) {
    SendTo(peer, std::make_shared<const std::string>(std::move(frame)));
  }
  switch (secure_round_->outcome()) {
    case SecureRound::Outcome::kCompleted:
      CompleteRound(now);
      break;
    case SecureRound::Outcome::kAborted:
      FailRound(now, secure_round_->abort_reason());
      break;
    case SecureRound::Outcome::kRunning:
      break;
  }
}

void Coordinator::MaybeCloseRound(absl::Time now) {
  if (phase_ == Phase::kTraining && secure_round_ != nullptr) {
    AdvanceSecureRound(now);
    return;
  }
  if (phase_ != Phase::kTraining) return;
  // Over-selected: the first round_target_ updates are enough.
  if (!pending_.empty() && reported_.size() < round_target_) return;
  if (reported_.size() >= config_.quorum) {
    CompleteRound(now);
  } else {
    FailRound(now, absl::StrCat("cohort shrank to ", reported_.size(),
                                " updates, below the quorum of ", config_.quorum));
  }
}

absl::Status Coordinator::ComputeMeanDelta() {
  mean_delta_.resize(model_.weights.size());
  if (secure_round_ == nullptr) {
    report_.aggregated = static_cast<uint32_t>(aggregator_->count());
    report_.total_weight = aggregator_->total_weight();
    report_.train_loss = report_.total_weight > 0 ? train_loss_sum_ / report_.total_weight : 0;
    return aggregator_->Finish(absl::MakeSpan(mean_delta_));
  }
  absl::StatusOr<double> weight = secure_round_->DecodeMean(absl::MakeSpan(mean_delta_));
  if (!weight.ok()) return weight.status();
  report_.aggregated = static_cast<uint32_t>(secure_round_->survivors());
  report_.total_weight = *weight;
  // Under secure aggregation no client's metrics reach the coordinator.
  report_.train_loss = std::nan("");
  pending_.clear();  // survivors are aggregated; the rest were counted as dropped
  return aggregation::AllFinite(mean_delta_.data(), mean_delta_.size())
             ? absl::OkStatus()
             : absl::InternalError("the securely aggregated mean is not finite");
}

void Coordinator::CompleteRound(absl::Time now) {
  absl::Status s = ComputeMeanDelta();
  if (!s.ok()) {
    FailRound(now, std::string(s.message()));
    return;
  }
  s = optimizer_->Step(mean_delta_, absl::MakeSpan(model_.weights));
  if (!s.ok()) {
    FailRound(now, std::string(s.message()));
    return;
  }
  report_.buffered_bytes = aggregator_->buffered_bytes();
  ++model_version_;
  ++completed_rounds_;
  consecutive_failures_ = 0;
  report_.completed = true;
  report_.model_version = model_version_;
  report_.dropped += static_cast<uint32_t>(pending_.size());
  pending_.clear();
  report_.seconds = absl::ToDoubleSeconds(now - round_start_);
  retry_advisor_.OnRoundCompleted(now - round_start_);
  if (evaluator_ != nullptr) {
    absl::StatusOr<EvalMetrics> eval = evaluator_->Evaluate(model_.weights);
    if (eval.ok()) {
      report_.evaluated = true;
      report_.eval = *eval;
    } else {
      FEDGE_LOG(kError, "round %d: evaluation failed: %s", round_, eval.status().ToString());
    }
  }
  EndRound(now, "completed",
           completed_rounds_ >= config_.rounds
               ? std::optional<std::string>(absl::StrCat("completed ", completed_rounds_, " rounds"))
               : std::nullopt);
}

void Coordinator::FailRound(absl::Time now, const std::string& why) {
  ++stats_.rounds_failed;
  ++consecutive_failures_;
  FEDGE_LOG(kWarning, "round %d failed: %s", round_, why);
  report_.completed = false;
  report_.failure = why;
  report_.model_version = model_version_;
  report_.aggregated = 0;
  report_.seconds = absl::ToDoubleSeconds(now - round_start_);
  report_.dropped += static_cast<uint32_t>(pending_.size());
  pending_.clear();
  EndRound(now, "failed",
           consecutive_failures_ >= config_.max_failed_rounds
               ? std::optional<std::string>(
                     absl::StrCat(consecutive_failures_, " consecutive rounds failed"))
               : std::nullopt);
}

void Coordinator::EndRound(absl::Time now, const char* outcome,
                           std::optional<std::string> finish_reason) {
  if (!SaveCheckpoint()) return;
  if (observer_) observer_->OnRoundEnd(report_);
  phase_ = Phase::kWaitingForClients;
  secure_round_.reset();
  report_ = RoundReport();
  const uint64_t ended = round_;
  std::vector<std::string> released = TakeCheckInCohort();
  if (finish_reason.has_value()) {
    Finish(*finish_reason);
    return;
  }
  MaybeStartRound(now);
  TellToRetry(released, absl::StrCat("round ", ended, " ", outcome));
}

void Coordinator::Finish(const std::string& reason) {
  phase_ = Phase::kFinished;
  finish_reason_ = reason;
  protocol::Shutdown bye;
  bye.reason = reason;
  auto frame = std::make_shared<const std::string>(protocol::Encode(bye));
  for (const std::string& peer : registry_.PeersByClientId()) {
    ClientRecord* r = registry_.Find(peer);
    // Check-in devices take the final model with them.
    if (r != nullptr && r->checks_in) {
      SendModelIfNewer(peer, r->has_model, r->model_version,
                       r->cached_architectures.count(model_.architecture_id) > 0);
    }
    SendTo(peer, frame);
  }
  FEDGE_LOG(kInfo, "finished: %s", reason);
}

}  // namespace fedge::coordinator
