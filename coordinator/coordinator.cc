#include "coordinator/coordinator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "aggregation/kernels.h"
#include "base/log.h"
#include "protocol/envelope.h"
#include "protocol/peer_address.h"

namespace fedge::coordinator {

using protocol::ErrorCode;

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorConfig config, protocol::ModelPayload initial_model, Outbox* outbox,
    Evaluator* evaluator, RoundObserver* observer, absl::Time /*now*/) {
  if (absl::Status s = ValidateCoordinatorConfig(config); !s.ok()) return s;
  absl::Status s = protocol::ValidateManifest(initial_model.manifest, initial_model.weights.size());
  // A gateway's coordinator may start without a model: the root's first
  // task brings it.
  if (config.relay != nullptr && initial_model.weights.empty()) s = absl::OkStatus();
  if (!s.ok()) return s;
  if (s = protocol::ValidateTaskSpec(initial_model.task); !s.ok()) return s;
  if (!aggregation::AllFinite(initial_model.weights.data(), initial_model.weights.size())) {
    return absl::InvalidArgumentError("initial model has NaN or infinite weights");
  }
  if (outbox == nullptr) return absl::InvalidArgumentError("outbox is required");
  absl::StatusOr<std::unique_ptr<Strategy>> strategy = MakeStrategy(config.strategy);
  if (!strategy.ok()) return strategy.status();
  // The smallest cohort a round can have; MaybeStartRound checks the real
  // one. An async buffer is exactly --buffer updates.
  const size_t cohort = config.async.enabled
                            ? config.async.buffer
                            : std::max<size_t>(config.clients_per_round, config.min_clients);
  if (absl::Status fits = CheckStrategyFits(**strategy, config.strategy, config.secure.enabled,
                                            cohort, initial_model.weights.size());
      !fits.ok()) {
    return fits;
  }
  absl::StatusOr<std::unique_ptr<aggregation::ServerOptimizer>> optimizer =
      aggregation::MakeServerOptimizer((*strategy)->optimizer(), initial_model.weights.size(),
                                       protocol::ParameterRanges(initial_model.manifest));
  if (!optimizer.ok()) return optimizer.status();
  if (absl::Status p = ValidatePrivacyOptions(config.privacy, config.secure.enabled,
                                              (*strategy)->buffers_updates(),
                                              (*strategy)->uses_control_variates());
      !p.ok()) {
    return p;
  }
  absl::StatusOr<std::unique_ptr<DpMechanism>> dp = DpMechanism::Create(config.privacy);
  if (!dp.ok()) return dp.status();
  return std::unique_ptr<Coordinator>(new Coordinator(
      std::move(config), std::move(initial_model), outbox, evaluator, observer,
      *std::move(strategy), *std::move(optimizer), *std::move(dp)));
}

Coordinator::Coordinator(CoordinatorConfig config, protocol::ModelPayload model, Outbox* outbox,
                         Evaluator* evaluator, RoundObserver* observer,
                         std::unique_ptr<Strategy> strategy,
                         std::unique_ptr<aggregation::ServerOptimizer> optimizer,
                         std::unique_ptr<DpMechanism> dp)
    : config_(std::move(config)), model_(std::move(model)), outbox_(outbox),
      evaluator_(evaluator), observer_(observer), strategy_(std::move(strategy)),
      aggregator_(strategy_->MakeAggregator()), optimizer_(std::move(optimizer)),
      dp_(std::move(dp)),
      control_(strategy_->uses_control_variates() ? model_.weights.size() : 0, 0.0f),
      control_aggregator_(strategy_->uses_control_variates() ? aggregation::MakeFedAvgAggregator()
                                                             : nullptr),
      parameter_ranges_(protocol::ParameterRanges(model_.manifest)),
      prunable_ranges_(protocol::PrunableRanges(model_.manifest)),
      rng_(config_.seed),
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
  // What one device's model update costs its uplink, whatever the
  // compression: a plain Update's frame, or a secure round's masked input.
  const auto* update = std::get_if<protocol::Update>(&scratch_);
  const auto* secagg = std::get_if<protocol::SecAggToServer>(&scratch_);
  if ((update != nullptr && !(update->delta.empty() && update->packed.empty())) ||
      (secagg != nullptr && std::holds_alternative<secure::MaskedInput>(secagg->body))) {
    report_.update_bytes += frame.size();
    ++report_.update_frames;
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
    FEDGE_LOG(kWarning, "refused a message from %s (%s, round %d): %s",
              protocol::DescribePeer(peer), protocol::ErrorCodeName(code), round, why);
  } else {
    ++refusal_logs_suppressed_;
  }
  protocol::ErrorReply reply;
  reply.code = code;
  reply.round = round;
  reply.message = why;
  SendTo(peer, std::make_shared<const std::string>(protocol::Encode(reply)));
}

void Coordinator::SendWelcome(const std::string& peer, uint64_t client_id) {
  protocol::Welcome w;
  w.client_id = client_id;
  w.heartbeat_interval_ms =
      static_cast<uint32_t>(absl::ToInt64Milliseconds(config_.heartbeat_interval));
  w.model_version = model_version_;
  SendTo(peer, std::make_shared<const std::string>(protocol::Encode(w)));
}

void Coordinator::SendTo(const std::string& peer, std::shared_ptr<const std::string> frame) {
  const size_t size = frame->size();
  absl::Status s = outbox_->Send(peer, std::move(frame));
  if (!s.ok()) {
    FEDGE_LOG(kDebug, "send to %s failed: %s", protocol::DescribePeer(peer), s.ToString());
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
  // The same registration again from the same peer: our Welcome was slow and
  // the client asked again. It lost nothing, so it keeps its round (and its
  // SecAgg cohort seat); it gets another Welcome, which it ignores if the
  // first one arrived.
  if (const ClientRecord* known = registry_.Find(peer);
      known != nullptr && m.registration != 0 && known->registration == m.registration &&
      known->client_id == m.client_id) {
    ++stats_.hellos_repeated;
    registry_.Touch(peer, now);
    FEDGE_LOG(kDebug, "client %d at %s repeated its Hello; welcomed again", m.client_id,
              protocol::DescribePeer(peer));
    SendWelcome(peer, m.client_id);
    return;
  }
  // A re-registering peer that was in the round has lost its task.
  DropFromRound(peer, "re-registered");
  ForgetConnectionModel(peer);
  ClientRecord& r = registry_.Register(peer, m.client_id, m.num_examples, now);
  ++stats_.registrations;
  r.identity = sender_identity_;
  r.cached_architectures.clear();
  r.cached_architectures.insert(m.cached_architectures.begin(), m.cached_architectures.end());
  r.checks_in = (m.capabilities & protocol::kCapCheckIn) != 0;
  r.evaluates = (m.capabilities & protocol::kCapEvaluate) != 0;
  r.check_in_done = false;
  r.has_model = m.has_model;
  r.model_version = m.model_version;
  r.registration = m.registration;
  FEDGE_LOG(kDebug, "client %d registered (%d examples) as %s", m.client_id, m.num_examples,
            protocol::DescribePeer(peer));
  SendWelcome(peer, m.client_id);
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
  if (phase_ == Phase::kEvaluating) {
    HandleEvaluation(peer, *client, m, now);
    return;
  }
  if (async()) {
    HandleAsyncUpdate(peer, *client, m, now);
    return;
  }
  if (auto bad = CheckRoundBinding(*client, m.client_id, m.round, m.model_version)) {
    Refuse(peer, bad->first, m.round, bad->second);
    return;
  }
  if (std::optional<Refusal> refused = open_round_->OnUpdate(peer, m)) {
    Refuse(peer, refused->code, m.round, refused->why);
    if (refused->drop) {
      DropFromRound(peer, "sent a bad update");
      MaybeCloseRound(now);
    }
    return;
  }
  pending_.erase(peer);
  reported_.insert(peer);
  client->cached_architectures.insert(model_.architecture_id);
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
  ForgetConnectionModel(peer);  // e.g. a task whose model it did not hold
  const bool security = m.code == ErrorCode::kBadSignature || m.code == ErrorCode::kRollback;
  if (security) ++stats_.models_refused_by_clients;
  Log(security ? LogLevel::kWarning : LogLevel::kInfo, "client %d reports (%s): %s",
      client->client_id, protocol::ErrorCodeName(m.code), m.message);
  if (async()) {
    const AsyncTasks::Task* task = async_tasks_.Find(peer);
    if (task != nullptr && task->round == m.round) {
      if (client->checks_in) client->check_in_done = true;
      DropFromRound(peer, "left its task");
      MaybeStartRound(now);
    }
  } else if (phase_ == Phase::kTraining && m.round == round_) {
    if (client->checks_in && pending_.count(peer)) client->check_in_done = true;
    DropFromRound(peer, "left the round");
    MaybeCloseRound(now);
  } else if (phase_ == Phase::kEvaluating && m.round == round_) {
    DropFromRound(peer, "could not evaluate");
    MaybeFinishEvaluation(now);
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
  if (std::optional<Refusal> refused = open_round_->OnSecAgg(peer, std::move(m.body))) {
    Refuse(peer, refused->code, m.round,
           absl::StrCat("client ", m.client_id, ": ", refused->why));
    return;
  }
  client->cached_architectures.insert(model_.architecture_id);
  MaybeCloseRound(now);
}

void Coordinator::ForgetConnectionModel(const std::string& peer) {
  if (connection_model_.empty()) return;
  absl::StatusOr<protocol::PeerView> address = protocol::DecodePeerView(peer);
  if (address.ok() && !address->channel.empty()) {
    connection_model_.erase(std::string(address->routing_id));
  }
}

// ---- Timers ------------------------------------------------------------------

void Coordinator::OnTick(absl::Time now) {
  now_ = now;
  if (phase_ == Phase::kFinished) return;
  client_rate_limiter_.PruneFull(now);
  unregistered_rate_limiter_.PruneFull(now);
  const absl::Time cutoff = now - config_.heartbeat_interval * config_.missed_heartbeats;
  for (const std::string& peer : registry_.ExpireSilentSince(cutoff)) {
    FEDGE_LOG(kInfo, "client at %s went silent; dropped", protocol::DescribePeer(peer));
    ++stats_.clients_dropped;
    DropFromRound(peer, "silent");
  }
  if (relay_task_.has_value() && phase_ == Phase::kWaitingForClients && now >= relay_deadline_) {
    FailRelay(absl::StrCat(registry_.size(), " devices registered, --min_clients ",
                           config_.min_clients, " needed before the root's deadline"));
  }
  for (const std::string& peer : async_tasks_.Expire(now)) {
    pending_.erase(peer);
    ++report_.dropped;
    FEDGE_LOG(kInfo, "client at %s: its task's deadline passed; the slot goes to another",
              protocol::DescribePeer(peer));
  }
  MaybeCloseRound(now);
  MaybeFinishEvaluation(now);
  MaybeStartRound(now);
}

// ---- Operator control ----------------------------------------------------------

void Coordinator::SetPaused(bool paused, absl::Time now) {
  if (paused_ == paused || phase_ == Phase::kFinished) return;
  paused_ = paused;
  FEDGE_LOG(kInfo, "%s by the operator%s", paused ? "paused" : "resumed",
            paused && phase_ != Phase::kWaitingForClients
                ? absl::StrCat(" (round ", round_, " runs to its end first)")
                : std::string());
  if (!paused) MaybeStartRound(now);
}

void Coordinator::RequestStop(absl::Time now) {
  now_ = now;
  if (phase_ == Phase::kFinished || stop_requested_) return;
  stop_requested_ = true;
  if (phase_ == Phase::kWaitingForClients) {
    stopped_by_operator_ = true;
    Finish(absl::StrCat("stopped by the operator after ", completed_rounds_, " completed rounds"));
    return;
  }
  FEDGE_LOG(kInfo, "stop requested by the operator: round %d runs to its end first", round_);
}

absl::Time Coordinator::round_deadline() const {
  if (phase_ == Phase::kTraining && open_round_ != nullptr) return open_round_->deadline();
  if (phase_ == Phase::kEvaluating && evaluation_ != nullptr) return evaluation_->deadline();
  return round_deadline_;
}

absl::Time Coordinator::NextDeadline(absl::Time now) const {
  absl::Time next = now + config_.heartbeat_interval;
  if (relay_task_.has_value() && phase_ == Phase::kWaitingForClients) {
    next = std::min(next, relay_deadline_);
  } else if (async()) {
    next = std::min(next, async_tasks_.NextDeadline());
  } else if (phase_ == Phase::kTraining) {
    next = std::min(next, open_round_->deadline());
  } else if (phase_ == Phase::kEvaluating) {
    next = std::min(next, evaluation_->deadline());
  }
  return std::max(now, next);
}

}  // namespace fedge::coordinator
