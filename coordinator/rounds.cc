// Coordinator: the round lifecycle (select a cohort, send tasks, close,
// aggregate, checkpoint, fail, finish). Split from coordinator.cc, which has
// the dispatch and one handler per message kind.

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/plain_round.h"
#include "protocol/peer_address.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

// ---- Rounds ------------------------------------------------------------------

void Coordinator::MaybeStartRound(absl::Time now) {
  if (async()) {
    MaybeStartAsync(now);
    return;
  }
  if (phase_ != Phase::kWaitingForClients || paused_) return;
  if (relay() && !relay_task_.has_value()) return;  // rounds are the root's
  // Selectable peers are registered ones: while registrations arrive, this
  // runs for every Hello, and listing 10,000 peers each time made
  // registration quadratic (6 s for 10,000 clients, most of it here).
  if (registry_.size() < config_.min_clients) return;
  std::vector<std::string> peers = SelectablePeers();
  if (peers.size() < config_.min_clients) return;
  const size_t target = RoundTarget(peers.size());
  size_t cohort = CohortSize(target, peers.size());
  if (dp_ != nullptr) {
    peers = dp_->SampleCohort(peers, target);
    cohort = peers.size();
    if (std::optional<std::string> spent = dp_->BudgetExhausted(); spent.has_value()) {
      privacy_budget_spent_ = true;
      Finish(*spent);
      return;
    }
  } else if (peers.size() > cohort) {
    std::shuffle(peers.begin(), peers.end(), rng_);
    peers.resize(cohort);
  }
  round_ = relay() ? relay_task_->round : round_ + 1;
  phase_ = Phase::kTraining;
  round_start_ = now;
  if (!training_start_.has_value()) training_start_ = now;
  round_deadline_ = now + config_.round_timeout;
  // The root's deadline bounds a gateway's round.
  if (relay()) round_deadline_ = std::min(round_deadline_, relay_deadline_);
  pending_.clear();
  reported_.clear();
  report_ = RoundReport();
  report_.round = round_;
  report_.selected = static_cast<uint32_t>(peers.size());
  for (const std::string& peer : peers) pending_.insert(peer);
  cohort_ = peers;
  open_round_.reset();
  // Under DP every sampled client is waited for: closing at the first
  // `target` arrivals would let speed decide who is in the sum.
  const size_t close_at = dp_ != nullptr ? cohort : std::min(target, cohort);
  absl::StatusOr<std::unique_ptr<Round>> open = StartRound(peers, close_at, now);
  if (!open.ok()) {
    FailRound(now, std::string(open.status().message()));
    return;
  }
  open_round_ = *std::move(open);

  protocol::Task task;
  task.round = round_;
  task.model_version = model_version_;
  if (relay()) {
    // The root's settings, seed included, as a flat run would send them.
    task.config = relay_task_->config;
  } else {
    task.config = config_.training;
    strategy_->ConfigureTask(&task.config);
    if (dp_ != nullptr) dp_->ConfigureTask(&task.config);
    task.control = control_;  // empty unless SCAFFOLD
    task.config.seed = config_.seed * 1000003u + round_;
  }
  task.deadline_ms = static_cast<uint32_t>(
      absl::ToInt64Milliseconds(std::max(absl::ZeroDuration(), round_deadline_ - now)));
  open_round_->PrepareTask(&task);
  if (absl::Status s = SignModelVersion(); !s.ok()) {
    FailRound(now, absl::StrCat("cannot sign model version ", model_version_, ": ", s.message()));
    return;
  }
  task.signature = model_signature_;
  SendTasks(task, peers);
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

void Coordinator::SendTasks(protocol::Task& task, const std::vector<std::string>& peers) {
  // Three encodings at most: with and without the architecture bytes, and
  // by reference. The model is moved into the task and back, not copied.
  std::string architecture = std::move(model_.architecture);
  task.model = std::move(model_);
  std::shared_ptr<const std::string> without =
      std::make_shared<const std::string>(protocol::Encode(task));
  std::shared_ptr<const std::string> with;
  std::shared_ptr<const std::string> by_reference;
  for (const std::string& peer : peers) {
    ClientRecord* r = registry_.Find(peer);
    if (r == nullptr) continue;
    r->has_model = true;  // what a check-in device stores
    r->model_version = model_version_;
    // The model once per shared connection and version: ZeroMQ keeps a
    // connection's messages in order, so the full task arrives first, in
    // this batch or an earlier one (async mode sends a task at a time).
    absl::StatusOr<protocol::PeerView> address = protocol::DecodePeerView(peer);
    bool carried = false;
    if (address.ok() && !address->channel.empty()) {
      auto [it, added] = connection_model_.try_emplace(std::string(address->routing_id),
                                                       model_version_);
      carried = !added && it->second == model_version_;
      it->second = model_version_;
    }
    if (carried) {
      if (!by_reference) {
        protocol::ModelPayload model = std::move(task.model);
        task.model = protocol::ModelPayload();
        task.model_by_reference = true;
        by_reference = std::make_shared<const std::string>(protocol::Encode(task));
        task.model_by_reference = false;
        task.model = std::move(model);
      }
      SendTo(peer, by_reference);
      continue;
    }
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
}

absl::StatusOr<std::unique_ptr<Round>> Coordinator::StartRound(
    const std::vector<std::string>& peers, size_t target, absl::Time now) {
  // Create checked the smallest cohort; this one may be larger.
  if (absl::Status fits = CheckStrategyFits(*strategy_, config_.strategy, config_.secure.enabled,
                                            peers.size(), model_.weights.size());
      !fits.ok()) {
    return fits;
  }
  if (config_.secure.enabled) {
    std::vector<SecureRound::Member> members;
    for (const std::string& peer : peers) {
      const ClientRecord* r = registry_.Find(peer);
      if (r != nullptr) members.push_back({peer, r->client_id, r->num_examples});
    }
    absl::StatusOr<std::unique_ptr<SecureRound>> secure =
        SecureRound::Start(config_.secure, round_, std::move(members), KeptWeights(),
                           strategy_->uses_control_variates(), rng_(), now, round_deadline_,
                           dp_ != nullptr && dp_->mode() == protocol::PrivacyMode::kDistributed
                               ? std::optional<SecureRound::DistributedDp>(
                                     {dp_->clip(), dp_->options().noise_multiplier})
                               : std::nullopt);
    if (!secure.ok()) return secure.status();
    return std::unique_ptr<Round>(*std::move(secure));
  }
  PlainRound::Settings s;
  s.round = round_;
  s.target = target;
  s.quorum = config_.quorum;
  s.deadline = round_deadline_;
  // A pruned model's updates carry only its kept coordinates, and are
  // combined as such (robust rules buffer less); ComputeMeanDelta scatters.
  s.model_size = KeptWeights();
  s.clip_norm = strategy_->clip_norm();
  s.parameter_ranges = compression::KeptRanges(parameter_ranges_, model_.mask);
  s.dp = dp_.get();
  return std::unique_ptr<Round>(
      new PlainRound(std::move(s), aggregator_.get(), control_aggregator_.get()));
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

absl::StatusOr<std::pair<protocol::ModelPayload, protocol::ModelSignature>>
Coordinator::SignedModel() {
  FEDGE_RETURN_IF_ERROR(SignModelVersion());
  return std::make_pair(model_, model_signature_);
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
  if (async()) {
    if (async_tasks_.End(peer)) {
      pending_.erase(peer);
      ++report_.dropped;
      FEDGE_LOG(kInfo, "client at %s lost its task (%s)", protocol::DescribePeer(peer), why);
    }
    return;
  }
  if (phase_ == Phase::kEvaluating) {
    evaluation_->Drop(peer);
    return;
  }
  if (phase_ == Phase::kTraining && pending_.erase(peer)) {
    open_round_->Drop(peer);
    ++report_.dropped;
    FEDGE_LOG(kInfo, "round %d: client at %s dropped from the cohort (%s)", round_,
              protocol::DescribePeer(peer), why);
  }
}

void Coordinator::MaybeCloseRound(absl::Time now) {
  if (phase_ != Phase::kTraining) return;
  for (auto& [peer, frame] : open_round_->Advance(now, {pending_.size(), reported_.size()})) {
    SendTo(peer, std::make_shared<const std::string>(std::move(frame)));
  }
  switch (open_round_->outcome()) {
    case Round::Outcome::kCompleted:
      CompleteRound(now);
      break;
    case Round::Outcome::kFailed:
      FailRound(now, open_round_->failure());
      break;
    case Round::Outcome::kRunning:
      break;
  }
}

size_t Coordinator::KeptWeights() const {
  return compression::KeptCount(model_.mask, model_.weights.size());
}

absl::Status Coordinator::ComputeMeanDelta() {
  mean_delta_.resize(model_.weights.size());
  const bool pruned = !model_.mask.empty();
  if (pruned) kept_delta_.resize(KeptWeights());
  absl::StatusOr<std::vector<std::string>> contributors = open_round_->Finish(
      absl::MakeSpan(pruned ? kept_delta_ : mean_delta_), &report_);
  if (!contributors.ok()) return contributors.status();
  for (const std::string& peer : *contributors) pending_.erase(peer);
  if (pruned) {
    FEDGE_RETURN_IF_ERROR(compression::Scatter(model_.mask, kept_delta_,
                                               absl::MakeSpan(mean_delta_)));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::PruneForNextRound() {
  if (config_.prune.final_sparsity <= 0) return absl::OkStatus();
  // Server optimisers with state (momentum) may move pruned weights: they
  // stay 0.
  compression::ApplyMask(model_.mask, absl::MakeSpan(model_.weights));
  const double sparsity = compression::SparsityAt(config_.prune, round_ + 1);
  if (sparsity > 0) {
    FEDGE_RETURN_IF_ERROR(compression::Prune(absl::MakeSpan(model_.weights), prunable_ranges_,
                                             sparsity, &model_.mask, config_.prune.scope));
  }
  uint64_t prunable = 0;
  for (const auto& [begin, end] : prunable_ranges_) prunable += end - begin;
  const uint64_t pruned = model_.weights.size() - KeptWeights();
  report_.sparsity = prunable == 0 ? 0.0 : static_cast<double>(pruned) / prunable;
  return absl::OkStatus();
}

absl::Status Coordinator::StepModel() {
  absl::Status s = ComputeMeanDelta();
  if (!s.ok()) return s;
  if (!control_.empty()) s = UpdateControlVariate();
  if (s.ok() && dp_ != nullptr) {
    PrivacyFigures figures;
    s = dp_->FinishRound(absl::MakeSpan(mean_delta_), report_.aggregated, &figures);
    report_.privacy = figures;
  }
  if (s.ok()) s = optimizer_->Step(mean_delta_, absl::MakeSpan(model_.weights));
  // The model this round produces is the one pruned for the next: it is what
  // is evaluated, checkpointed and sent.
  if (s.ok()) s = PruneForNextRound();
  return s;
}

void Coordinator::CompleteRound(absl::Time now) {
  if (relay()) {
    CompleteRelayRound(now);
    return;
  }
  if (absl::Status s = StepModel(); !s.ok()) {
    FailRound(now, std::string(s.message()));
    return;
  }
  ++model_version_;
  ++completed_rounds_;
  consecutive_failures_ = 0;
  report_.completed = true;
  report_.model_version = model_version_;
  report_.seconds = absl::ToDoubleSeconds(now - round_start_);
  report_.elapsed_seconds = absl::ToDoubleSeconds(now - training_start_.value_or(now));
  report_.eval_wait_seconds = absl::ToDoubleSeconds(eval_wait_);
  if (async()) {
    PublishAsync(now);
    return;
  }
  report_.dropped += static_cast<uint32_t>(pending_.size());
  pending_.clear();
  retry_advisor_.OnRoundCompleted(now - round_start_);
  if (evaluator_ != nullptr) {
    phase_ = Phase::kServerEvaluating;
    eval_started_ = now;
    evaluator_->Start(round_, std::make_shared<const std::vector<float>>(model_.weights));
    return;
  }
  AfterServerEvaluation(now);
}

void Coordinator::OnServerEvaluation(uint64_t round, absl::StatusOr<EvalMetrics> result,
                                     absl::Time now) {
  now_ = now;
  if (async()) {
    OnAsyncEvaluation(round, std::move(result));
    return;
  }
  if (phase_ != Phase::kServerEvaluating || round != round_) {
    FEDGE_LOG(kWarning, "ignoring an evaluation of round %d (round %d, %s)", round, round_,
              phase_ == Phase::kServerEvaluating ? "evaluating" : "not evaluating");
    return;
  }
  if (result.ok()) {
    report_.evaluated = true;
    report_.eval = *result;
  } else {
    FEDGE_LOG(kError, "round %d: evaluation failed: %s", round_, result.status().ToString());
  }
  eval_wait_ += now - eval_started_;
  AfterServerEvaluation(now);
}

void Coordinator::AfterServerEvaluation(absl::Time now) {
  if (config_.fraction_evaluate > 0 && StartEvaluation(now)) return;
  EndRound(now, "completed", CompletionFinishReason());
}

std::optional<std::string> Coordinator::CompletionFinishReason() const {
  if (completed_rounds_ < config_.rounds) return std::nullopt;
  return absl::StrCat("completed ", completed_rounds_, " rounds");
}

// ---- Federated evaluation ------------------------------------------------------

bool Coordinator::StartEvaluation(absl::Time now) {
  // Cohort members whose update did not arrive (over-selection's stragglers,
  // likely still training) are not asked: a client works on one task at a
  // time and would ignore an evaluation of the round it is training for.
  const std::set<std::string> cohort(cohort_.begin(), cohort_.end());
  std::vector<std::string> peers;
  for (const std::string& peer : SelectablePeers()) {
    const bool straggler = cohort.count(peer) > 0 && reported_.count(peer) == 0;
    if (registry_.Find(peer)->evaluates && !straggler) peers.push_back(peer);
  }
  if (peers.empty()) {
    FEDGE_LOG(kWarning, "round %d: no client can evaluate (none holds a held-out split)", round_);
    report_.federated = FederatedMetrics();
    return false;
  }
  const size_t count = std::min(
      peers.size(),
      std::max<size_t>(1, static_cast<size_t>(std::ceil(config_.fraction_evaluate * peers.size()))));
  // Its own generator, seeded by the round: the training cohorts are the
  // same with or without evaluation, and after a restart.
  std::mt19937_64 rng(config_.seed * 0x9E3779B97F4A7C15ull + round_);
  std::shuffle(peers.begin(), peers.end(), rng);
  peers.resize(count);
  if (absl::Status s = SignModelVersion(); !s.ok()) {
    FEDGE_LOG(kError, "round %d: cannot sign model version %d for evaluation: %s", round_,
              model_version_, s.ToString());
    report_.federated = FederatedMetrics();
    return false;
  }
  protocol::Task task;
  task.round = round_;
  task.model_version = model_version_;
  task.config = config_.training;
  strategy_->ConfigureTask(&task.config);
  task.config.evaluate_only = true;
  task.deadline_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(config_.evaluate_timeout));
  task.signature = model_signature_;
  phase_ = Phase::kEvaluating;
  evaluation_ = std::make_unique<FederatedEvaluation>(peers, model_.task.HasAccuracy(),
                                                      now + config_.evaluate_timeout);
  SendTasks(task, peers);
  FEDGE_LOG(kDebug, "round %d: %d clients evaluate model %d", round_, peers.size(),
            model_version_);
  return true;
}

void Coordinator::HandleEvaluation(const std::string& peer, ClientRecord& client,
                                   protocol::Update& m, absl::Time now) {
  if (auto bad = CheckIdentity(client)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  if (m.client_id != client.client_id || m.round != round_ || m.model_version != model_version_) {
    Refuse(peer, m.round != round_ ? ErrorCode::kWrongRound : ErrorCode::kWrongModelVersion,
           m.round,
           absl::StrCat("evaluation of round ", round_, "'s model version ", model_version_,
                        " is open; got client ", m.client_id, ", round ", m.round,
                        ", model version ", m.model_version));
    return;
  }
  if (std::optional<Refusal> refused = evaluation_->OnResult(peer, m)) {
    Refuse(peer, refused->code, m.round, refused->why);
  }
  MaybeFinishEvaluation(now);
}

void Coordinator::MaybeFinishEvaluation(absl::Time now) {
  if (phase_ != Phase::kEvaluating || !evaluation_->Done(now)) return;
  report_.federated = evaluation_->Result();
  if (report_.federated->clients < report_.federated->asked) {
    FEDGE_LOG(kInfo, "round %d: %d of %d clients evaluated", round_, report_.federated->clients,
              report_.federated->asked);
  }
  evaluation_.reset();
  EndRound(now, "completed", CompletionFinishReason());
}

absl::Status Coordinator::UpdateControlVariate() {
  // Karimireddy et al. 2020, Algorithm 1: c += |S| / N * mean(delta c_i),
  // N the clients taking part in the federation (those registered).
  mean_control_delta_.resize(control_.size());
  if (absl::Status s = open_round_->ControlDelta(absl::MakeSpan(mean_control_delta_)); !s.ok()) {
    return s;
  }
  const float share = static_cast<float>(report_.aggregated) /
                      static_cast<float>(std::max<size_t>(registry_.size(), report_.aggregated));
  aggregation::Axpy(share, mean_control_delta_.data(), control_.data(), control_.size());
  return absl::OkStatus();
}

void Coordinator::FailRound(absl::Time now, const std::string& why) {
  ++stats_.rounds_failed;
  ++consecutive_failures_;
  FEDGE_LOG(kWarning, "round %d failed: %s", round_, why);
  if (relay()) FailRelay(why);
  report_.completed = false;
  report_.failure = why;
  report_.model_version = model_version_;
  report_.aggregated = 0;
  report_.seconds = absl::ToDoubleSeconds(now - round_start_);
  report_.elapsed_seconds = absl::ToDoubleSeconds(now - training_start_.value_or(now));
  if (!async()) {  // async tasks in flight carry on into the next buffer
    report_.dropped += static_cast<uint32_t>(pending_.size());
    pending_.clear();
  }
  if (dp_ != nullptr && !report_.privacy.has_value()) {
    // What was sampled may show in a failure: the round is charged anyway.
    PrivacyFigures figures;
    if (absl::Status s = dp_->ChargeFailedRound(&figures); !s.ok()) {
      FEDGE_LOG(kError, "round %d: privacy accountant: %s", round_, s.ToString());
    }
    report_.privacy = figures;
  }
  EndRound(now, "failed",
           consecutive_failures_ >= config_.max_failed_rounds
               ? std::optional<std::string>(
                     absl::StrCat(consecutive_failures_, " consecutive rounds failed"))
               : std::nullopt);
}

void Coordinator::EndRound(absl::Time now, const char* outcome,
                           std::optional<std::string> finish_reason) {
  if (!SaveCheckpoint()) return;
  // Async: versions published before this failed buffer come first, their
  // evaluations or not.
  for (const RoundReport& r : unreported_) {
    if (observer_) observer_->OnRoundEnd(r);
  }
  unreported_.clear();
  if (observer_) observer_->OnRoundEnd(report_);
  phase_ = Phase::kWaitingForClients;
  open_round_.reset();
  report_ = RoundReport();
  const uint64_t ended = round_;
  std::vector<std::string> released = TakeCheckInCohort();
  if (!finish_reason.has_value() && stop_requested_) {
    stopped_by_operator_ = true;
    finish_reason = absl::StrCat("stopped by the operator after ", completed_rounds_,
                                 " completed rounds");
  }
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
