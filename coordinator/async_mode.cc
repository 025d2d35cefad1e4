// Coordinator in --mode=async (FedBuff): task slots, the buffer that makes
// each version, publication beside evaluation. The buffer's arithmetic and
// the task bookkeeping are sans-I/O classes of their own
// (coordinator/async_round.h); this is the glue to the registry, the
// strategy, checkpoints and reports.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "coordinator/coordinator.h"
#include "protocol/peer_address.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

void Coordinator::MaybeStartAsync(absl::Time now) {
  if (phase_ == Phase::kTraining) {
    Dispatch(now);
    return;
  }
  if (phase_ != Phase::kWaitingForClients || paused_) return;
  if (registry_.size() < config_.min_clients) return;
  if (SelectablePeers().size() < config_.min_clients) return;
  if (!training_start_.has_value()) training_start_ = now;
  phase_ = Phase::kTraining;
  OpenAsyncRound(now);
  Dispatch(now);
}

void Coordinator::OpenAsyncRound(absl::Time now) {
  ++round_;
  round_start_ = now;
  round_deadline_ = absl::InfiniteFuture();
  reported_.clear();
  report_ = RoundReport();
  report_.round = round_;
  async_batches_ = 0;
  AsyncRound::Settings s;
  s.round = round_;
  s.model_version = model_version_;
  s.options = config_.async;
  s.model_size = model_.weights.size();
  s.clip_norm = strategy_->clip_norm();
  s.parameter_ranges = parameter_ranges_;
  open_round_ = std::make_unique<AsyncRound>(std::move(s), aggregator_.get());
}

void Coordinator::Dispatch(absl::Time now) {
  // Pausing and stopping take effect when the open buffer is published:
  // until then its slots are refilled, or it might never fill.
  if (phase_ != Phase::kTraining) return;
  const size_t concurrency = config_.async.concurrency != 0
                                 ? config_.async.concurrency
                                 : RoundTarget(registry_.size());
  if (async_tasks_.size() >= concurrency) return;
  std::vector<std::string> chosen = SampleIdlePeers(concurrency - async_tasks_.size());
  if (chosen.empty()) chosen = async_tasks_.Choose(SelectablePeers(), concurrency, rng_);
  if (chosen.empty()) return;
  if (absl::Status s = SignModelVersion(); !s.ok()) {
    FEDGE_LOG(kError, "cannot sign model version %d; no task sent: %s", model_version_,
              s.ToString());
    return;
  }
  protocol::Task task;
  task.round = round_;
  task.model_version = model_version_;
  task.config = config_.training;
  strategy_->ConfigureTask(&task.config);
  // A client may train twice on one version (it finished before the buffer
  // filled): each batch of tasks gets its own seed, or it would send the
  // same update twice.
  task.config.seed = config_.seed * 1000003u + round_ + (async_batches_++ << 32);
  task.deadline_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(config_.round_timeout));
  task.signature = model_signature_;
  for (const std::string& peer : chosen) {
    async_tasks_.Start(peer, {round_, model_version_, now + config_.round_timeout});
    pending_.insert(peer);
  }
  report_.selected += static_cast<uint32_t>(chosen.size());
  // A send that fails drops its peer (DropFromRound), freeing the slot for
  // the next dispatch.
  SendTasks(task, chosen);
}

std::vector<std::string> Coordinator::SampleIdlePeers(size_t want) {
  // Listing every selectable peer for each freed slot made a run of 10,000
  // clients spend its time copying peer names while updates queued up.
  // Drawing uniformly from all registered peers and skipping the busy ones
  // is uniform over the idle ones, and cheap while most are idle.
  const std::vector<std::string>& all = registry_.OrderedPeers();
  if (all.empty() || want * 8 > all.size()) return {};
  std::uniform_int_distribution<size_t> pick(0, all.size() - 1);
  std::vector<std::string> chosen;
  for (size_t attempt = 0; chosen.size() < want && attempt < 16 * want + 64; ++attempt) {
    const std::string& peer = all[pick(rng_)];
    const ClientRecord* r = registry_.Find(peer);
    if (r == nullptr || r->check_in_done || async_tasks_.Find(peer) != nullptr ||
        std::find(chosen.begin(), chosen.end(), peer) != chosen.end()) {
      continue;
    }
    chosen.push_back(peer);
  }
  // Too many busy: the caller lists them all instead.
  if (chosen.size() < want) chosen.clear();
  return chosen;
}

void Coordinator::HandleAsyncUpdate(const std::string& peer, ClientRecord& client,
                                    protocol::Update& m, absl::Time now) {
  if (auto bad = CheckSender(client, m.client_id)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  const AsyncTasks::Task* task = async_tasks_.Find(peer);
  if (task == nullptr) {
    Refuse(peer, ErrorCode::kNotInCohort,
           m.round, absl::StrCat("client ", m.client_id, " has no task out (its deadline "
                                 "passed, or it was never sent one)"));
    return;
  }
  if (m.round != task->round || m.model_version != task->model_version) {
    Refuse(peer, m.round != task->round ? ErrorCode::kWrongRound : ErrorCode::kWrongModelVersion,
           m.round,
           absl::StrCat("client ", m.client_id, "'s task is round ", task->round,
                        " on model version ", task->model_version, "; got round ", m.round,
                        ", model version ", m.model_version));
    return;
  }
  // Its task is over whatever the buffer says: the client is idle again.
  async_tasks_.End(peer);
  pending_.erase(peer);
  if (phase_ == Phase::kServerEvaluating) {
    // The run's last version is made; the Shutdown that follows tells the
    // client, without a refusal per late update in both logs.
    ++report_.rejected;
    return;
  }
  if (phase_ != Phase::kTraining) {
    Refuse(peer, ErrorCode::kWrongRound, m.round,
           "no buffer is open (paused by the operator)");
    return;
  }
  if (std::optional<Refusal> refused = open_round_->OnUpdate(peer, m)) {
    Refuse(peer, refused->code, m.round, refused->why);
  } else {
    reported_.insert(peer);
    client.cached_architectures.insert(model_.architecture_id);
  }
  if (client.checks_in) client.check_in_done = true;
  MaybeCloseRound(now);
  ClientRecord* device = registry_.Find(peer);
  if (device != nullptr && device->checks_in && phase_ != Phase::kFinished) {
    SendRetryLater(*device, absl::StrCat("update on model version ", m.model_version,
                                         " received"));
  }
  MaybeStartRound(now);
}

void Coordinator::PublishAsync(absl::Time now) {
  if (!report_.async.has_value()) report_.async.emplace();
  AsyncFigures& figures = *report_.async;
  figures.in_flight = static_cast<uint32_t>(async_tasks_.size());
  // Durable before anyone is sent this version (coordinator_snapshot.h).
  if (!SaveCheckpoint()) return;
  retry_advisor_.OnRoundCompleted(now - round_start_);
  FEDGE_LOG(kDebug, "version %d published from %d updates (staleness mean %.2f, max %d)",
            model_version_, report_.aggregated, figures.staleness_mean, figures.staleness_max);
  unreported_.push_back(report_);
  if (evaluator_ != nullptr) {
    evaluator_->Start(round_, std::make_shared<const std::vector<float>>(model_.weights));
  } else {
    OnAsyncEvaluation(round_, absl::UnavailableError("no evaluator"));
  }
  std::optional<std::string> finish = CompletionFinishReason();
  if (!finish.has_value() && stop_requested_) {
    stopped_by_operator_ = true;
    finish = absl::StrCat("stopped by the operator after ", completed_rounds_,
                          " completed rounds");
  }
  if (finish.has_value()) {
    open_round_.reset();
    if (unreported_.empty()) {
      FinishAsync(*finish);
    } else {
      // The last version's evaluation is waited for: it is the run's result.
      phase_ = Phase::kServerEvaluating;
      async_finish_reason_ = *std::move(finish);
    }
    return;
  }
  if (paused_) {
    // Tasks in flight finish; their updates wait for no buffer.
    phase_ = Phase::kWaitingForClients;
    open_round_.reset();
    return;
  }
  OpenAsyncRound(now);
}

void Coordinator::OnAsyncEvaluation(uint64_t round, absl::StatusOr<EvalMetrics> result) {
  const bool evaluated = result.ok();
  if (!evaluated && evaluator_ != nullptr) {
    FEDGE_LOG(kError, "version of round %d: evaluation failed: %s", round,
              result.status().ToString());
  }
  // Evaluations come back in order; one for a later version means the
  // evaluator skipped the earlier ones (it evaluates the newest it was given).
  while (!unreported_.empty() && unreported_.front().round <= round) {
    RoundReport& r = unreported_.front();
    if (r.round == round && evaluated) {
      r.evaluated = true;
      r.eval = *result;
    }
    if (observer_ != nullptr) observer_->OnRoundEnd(r);
    unreported_.pop_front();
  }
  if (phase_ == Phase::kServerEvaluating && unreported_.empty()) {
    FinishAsync(async_finish_reason_);
  }
}

void Coordinator::FinishAsync(const std::string& reason) {
  for (const RoundReport& r : unreported_) {
    if (observer_ != nullptr) observer_->OnRoundEnd(r);
  }
  unreported_.clear();
  Finish(reason);
}

}  // namespace fedge::coordinator
