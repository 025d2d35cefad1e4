#include "coordinator/coordinator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "protocol/envelope.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorConfig config, protocol::ModelPayload initial_model, Outbox* outbox,
    Evaluator* evaluator, RoundObserver* observer, absl::Time now) {
  if (absl::Status s = ValidateCoordinatorConfig(config); !s.ok()) return s;
  absl::Status s = protocol::ValidateManifest(initial_model.manifest, initial_model.weights.size());
  if (!s.ok()) return s;
  if (!aggregation::AllFinite(initial_model.weights.data(), initial_model.weights.size())) {
    return absl::InvalidArgumentError("initial model has NaN or infinite weights");
  }
  if (outbox == nullptr) return absl::InvalidArgumentError("outbox is required");
  return std::unique_ptr<Coordinator>(new Coordinator(
      std::move(config), std::move(initial_model), outbox, evaluator, observer, now));
}

Coordinator::Coordinator(CoordinatorConfig config, protocol::ModelPayload model, Outbox* outbox,
                         Evaluator* evaluator, RoundObserver* observer, absl::Time)
    : config_(std::move(config)), model_(std::move(model)), outbox_(outbox),
      evaluator_(evaluator), observer_(observer),
      aggregator_(aggregation::MakeFedAvgAggregator()), rng_(config_.seed),
      client_rate_limiter_(config_.client_frame_limit),
      unregistered_rate_limiter_(config_.unregistered_frame_limit),
      retry_advisor_(config_.retry_window) {}

// ---- Dispatch ----------------------------------------------------------------

void Coordinator::OnFrame(const Sender& from, absl::string_view frame, absl::Time now) {
  const std::string& peer = from.peer;
  now_ = now;
  sender_identity_ = from.identity;
  ++stats_.frames_received;
  stats_.bytes_received += frame.size();
  report_.bytes_up += frame.size();
  // Before decoding: a flood costs a map lookup per frame, not a decode.
  const bool registered = registry_.Find(peer) != nullptr;
  if (!(registered ? client_rate_limiter_.Allow(peer, now)
                   : unregistered_rate_limiter_.Allow(std::string(), now))) {
    Refuse(peer, ErrorCode::kRateLimited, round_,
           registered ? "over this client's frame rate limit"
                      : "over the frame rate limit for unregistered peers");
    return;
  }
  absl::Status s = protocol::DecodeInto(frame, config_.limits, &scratch_);
  if (!s.ok()) {
    Refuse(peer, protocol::ErrorCodeForDecodeFailure(s), round_, std::string(s.message()));
    return;
  }
  std::visit([&](auto& m) { Handle(peer, m, now); }, scratch_);
}

void Coordinator::Refuse(const std::string& peer, ErrorCode code, uint64_t round,
                         const std::string& why) {
  ++stats_.rejected_total;
  ++stats_.rejected_by_code[code];
  ++report_.rejected;
  if (now_ - refusal_log_window_ >= absl::Seconds(1)) {
    if (refusal_logs_suppressed_ > 0) {
      FEDGE_LOG(kWarning, "%d more refused messages were not logged", refusal_logs_suppressed_);
    }
    refusal_log_window_ = now_;
    refusal_logs_in_window_ = 0;
    refusal_logs_suppressed_ = 0;
  }
  if (refusal_logs_in_window_++ < kRefusalLogsPerSecond) {
    FEDGE_LOG(kWarning, "refused a message from %s (%s, round %d): %s", absl::CHexEscape(peer),
              protocol::ErrorCodeName(code), round, why);
  } else {
    ++refusal_logs_suppressed_;
  }
  protocol::ErrorReply reply;
  reply.code = code;
  reply.round = round;
  reply.message = why;
  SendTo(peer, std::make_shared<const std::string>(protocol::Encode(reply)));
}

void Coordinator::SendTo(const std::string& peer, std::shared_ptr<const std::string> frame) {
  const size_t size = frame->size();
  absl::Status s = outbox_->Send(peer, std::move(frame));
  if (!s.ok()) {
    FEDGE_LOG(kDebug, "send to %s failed: %s", absl::CHexEscape(peer), s.ToString());
    DropFromRound(peer, "unreachable");
    return;
  }
  ++stats_.frames_sent;
  stats_.bytes_sent += size;
  report_.bytes_down += size;
}

// ---- Handlers ----------------------------------------------------------------

void Coordinator::Handle(const std::string& peer, protocol::Hello& m, absl::Time now) {
  if (phase_ == Phase::kFinished) {
    if (halted_) return;  // a restarted coordinator will take the client back
    // A check-in device still gets the final model.
    if (m.capabilities & protocol::kCapCheckIn) {
      const bool cached = std::count(m.cached_architectures.begin(), m.cached_architectures.end(),
                                     model_.architecture_id) > 0;
      SendModelIfNewer(peer, m.has_model, m.model_version, cached);
    }
    protocol::Shutdown bye;
    bye.reason = finish_reason_;
    SendTo(peer, std::make_shared<const std::string>(protocol::Encode(bye)));
    return;
  }
  if (config_.enrolment != nullptr) {
    absl::Status enrolled = config_.enrolment->Check(sender_identity_, m.client_id);
    if (!enrolled.ok()) {
      // Whatever this connection was registered as, it is not any more.
      DropFromRound(peer, "not enrolled");
      registry_.Remove(peer);
      Refuse(peer, ErrorCode::kNotEnrolled, round_,
             absl::StrCat("client ", m.client_id, ": ", enrolled.message()));
      return;
    }
  }
  if (m.num_examples == 0) {
    Refuse(peer, ErrorCode::kBadWeight, round_, "a client with no examples cannot train");
    return;
  }
  // A re-registering peer that was in the round has lost its task.
  DropFromRound(peer, "re-registered");
  ClientRecord& r = registry_.Register(peer, m.client_id, m.num_examples, now);
  r.identity = sender_identity_;
  r.cached_architectures.clear();
  r.cached_architectures.insert(m.cached_architectures.begin(), m.cached_architectures.end());
  r.checks_in = (m.capabilities & protocol::kCapCheckIn) != 0;
  r.check_in_done = false;
  r.has_model = m.has_model;
  r.model_version = m.model_version;
  FEDGE_LOG(kDebug, "client %d registered (%d examples) as %s", m.client_id, m.num_examples,
            absl::CHexEscape(peer));
  protocol::Welcome w;
  w.client_id = m.client_id;
  w.heartbeat_interval_ms =
      static_cast<uint32_t>(absl::ToInt64Milliseconds(config_.heartbeat_interval));
  w.model_version = model_version_;
  SendTo(peer, std::make_shared<const std::string>(protocol::Encode(w)));
  const uint64_t round_before = round_;
  MaybeStartRound(now);
  // A check-in device that arrives while a round runs without it is not
  // kept waiting: it comes back when the round should be over. (A round
  // that started just now has told those it did not select.)
  ClientRecord* late = registry_.Find(peer);
  if (late != nullptr && late->checks_in && phase_ == Phase::kTraining &&
      round_ == round_before && !pending_.count(peer) && !reported_.count(peer)) {
    SendRetryLater(*late, absl::StrCat("round ", round_, " is in progress"));
  }
}

void Coordinator::Handle(const std::string& peer, protocol::Update& m, absl::Time now) {
  ClientRecord* client = registry_.Find(peer);
  if (client == nullptr) {
    Refuse(peer, ErrorCode::kNotRegistered, m.round, "update from an unregistered client");
    return;
  }
  client->last_seen = now;
  if (auto bad = CheckUpdate(*client, m)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  absl::Status s = aggregator_->Add(m.delta, static_cast<double>(m.num_examples));
  if (!s.ok()) {
    Refuse(peer, ErrorCode::kNonFinite, m.round,
           absl::StrCat("round ", round_, ": update from client ", m.client_id, ": ",
                        s.message()));
    // A client that sends garbage is not waited for.
    DropFromRound(peer, "sent a bad update");
    MaybeCloseRound(now);
    return;
  }
  pending_.erase(peer);
  reported_.insert(peer);
  client->cached_architectures.insert(model_.architecture_id);
  if (std::isfinite(m.metrics.loss)) {
    train_loss_sum_ += static_cast<double>(m.metrics.loss) * static_cast<double>(m.num_examples);
  }
  const uint64_t round = round_;
  if (client->checks_in) client->check_in_done = true;  // its one task is done
  MaybeCloseRound(now);
  // It need not wait for the round; advised after the round closed, if its
  // update closed it, so the advice sees the next round.
  ClientRecord* device = registry_.Find(peer);
  if (device != nullptr && device->checks_in && phase_ != Phase::kFinished) {
    SendRetryLater(*device, absl::StrCat("update for round ", round, " received"));
  }
}

void Coordinator::Handle(const std::string& peer, protocol::Heartbeat& m, absl::Time now) {
  ClientRecord* client = registry_.Find(peer);
  if (client == nullptr) {
    Refuse(peer, ErrorCode::kNotRegistered, m.round, "heartbeat from an unregistered client");
    return;
  }
  if (auto bad = CheckIdentity(*client)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  client->last_seen = now;
  protocol::Heartbeat pong;
  pong.client_id = client->client_id;
  pong.round = round_;
  SendTo(peer, std::make_shared<const std::string>(protocol::Encode(pong)));
}

void Coordinator::Handle(const std::string& peer, protocol::ErrorReply& m, absl::Time now) {
  ClientRecord* client = registry_.Find(peer);
  // Never answer an error with an error; nor let another key speak for it.
  if (client == nullptr || CheckIdentity(*client)) return;
  client->last_seen = now;
  const bool security = m.code == ErrorCode::kBadSignature || m.code == ErrorCode::kRollback;
  if (security) ++stats_.models_refused_by_clients;
  Log(security ? LogLevel::kWarning : LogLevel::kInfo, "client %d reports (%s): %s",
      client->client_id, protocol::ErrorCodeName(m.code), m.message);
  if (phase_ == Phase::kTraining && m.round == round_) {
    if (client->checks_in && pending_.count(peer)) client->check_in_done = true;
    DropFromRound(peer, "left the round");
    MaybeCloseRound(now);
  }
}

void Coordinator::Handle(const std::string& peer, protocol::Welcome&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "Welcome is sent by coordinators only");
}
void Coordinator::Handle(const std::string& peer, protocol::Task&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "Task is sent by coordinators only");
}
void Coordinator::Handle(const std::string& peer, protocol::Shutdown&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "Shutdown is sent by coordinators only");
}
void Coordinator::Handle(const std::string& peer, protocol::SecAggToClient&, absl::Time) {
  Refuse(peer, ErrorCode::kUnknownKind, round_, "SecAggToClient is sent by coordinators only");
}

void Coordinator::Handle(const std::string& peer, protocol::SecAggToServer& m, absl::Time now) {
  ClientRecord* client = registry_.Find(peer);
  if (client == nullptr) {
    Refuse(peer, ErrorCode::kNotRegistered, m.round, "SecAgg message from an unregistered client");
    return;
  }
  client->last_seen = now;
  if (auto bad = CheckRoundBinding(*client, m.client_id, m.round, m.model_version)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  if (secure_round_ == nullptr) {
    Refuse(peer, ErrorCode::kMalformed, m.round,
           absl::StrCat("round ", round_, " does not use secure aggregation"));
    return;
  }
  absl::Status s = secure_round_->OnMessage(peer, std::move(m.body));
  if (!s.ok()) {
    ErrorCode code = ErrorCode::kMalformed;
    if (absl::IsAlreadyExists(s)) code = ErrorCode::kDuplicate;
    if (absl::IsFailedPrecondition(s)) code = ErrorCode::kWrongRound;
    Refuse(peer, code, m.round,
           absl::StrCat("round ", round_, " (", secure_round_->phase_name(), "): client ",
                        m.client_id, ": ", s.message()));
    return;
  }
  client->cached_architectures.insert(model_.architecture_id);
  AdvanceSecureRound(now);
}

// ---- Timers ------------------------------------------------------------------

void Coordinator::OnTick(absl::Time now) {
  now_ = now;
  if (phase_ == Phase::kFinished) return;
  client_rate_limiter_.PruneFull(now);
  unregistered_rate_limiter_.PruneFull(now);
  const absl::Time cutoff = now - config_.heartbeat_interval * config_.missed_heartbeats;
  for (const std::string& peer : registry_.ExpireSilentSince(cutoff)) {
    FEDGE_LOG(kInfo, "client at %s went silent; dropped", absl::CHexEscape(peer));
    DropFromRound(peer, "silent");
  }
  if (phase_ == Phase::kTraining && secure_round_ != nullptr) {
    AdvanceSecureRound(now);
  } else if (phase_ == Phase::kTraining) {
    if (now >= round_deadline_) {
      if (reported_.size() >= config_.quorum) {
        CompleteRound(now);
      } else {
        FailRound(now, absl::StrCat("deadline passed with ", reported_.size(), " of ",
                                    config_.quorum, " updates needed"));
      }
    } else {
      MaybeCloseRound(now);
    }
  }
  MaybeStartRound(now);
}

absl::Time Coordinator::NextDeadline(absl::Time now) const {
  absl::Time next = now + config_.heartbeat_interval;
  if (phase_ == Phase::kTraining) {
    next = std::min(next, secure_round_ ? secure_round_->deadline() : round_deadline_);
  }
  return std::max(now, next);
}

// ---- Rounds ------------------------------------------------------------------

void Coordinator::MaybeStartRound(absl::Time now) {
  if (phase_ != Phase::kWaitingForClients) return;
  std::vector<std::string> peers = SelectablePeers();
  if (peers.size() < config_.min_clients) return;
  const size_t target = RoundTarget(peers.size());
  const size_t cohort = CohortSize(target, peers.size());
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
  aggregation::ScaleAdd(model_.weights.data(), config_.server_learning_rate, mean_delta_.data(),
                        model_.weights.data(), model_.weights.size());
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
  if (!SaveCheckpoint()) return;
  if (observer_) observer_->OnRoundEnd(report_);
  phase_ = Phase::kWaitingForClients;
  secure_round_.reset();
  report_ = RoundReport();
  const uint64_t ended = round_;
  std::vector<std::string> released = TakeCheckInCohort();
  if (completed_rounds_ >= config_.rounds) {
    Finish(absl::StrCat("completed ", completed_rounds_, " rounds"));
    return;
  }
  MaybeStartRound(now);
  TellToRetry(released, absl::StrCat("round ", ended, " completed"));
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
  if (!SaveCheckpoint()) return;
  if (observer_) observer_->OnRoundEnd(report_);
  phase_ = Phase::kWaitingForClients;
  secure_round_.reset();
  report_ = RoundReport();
  const uint64_t ended = round_;
  std::vector<std::string> released = TakeCheckInCohort();
  if (consecutive_failures_ >= config_.max_failed_rounds) {
    Finish(absl::StrCat(consecutive_failures_, " consecutive rounds failed"));
    return;
  }
  MaybeStartRound(now);
  TellToRetry(released, absl::StrCat("round ", ended, " failed"));
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
