#include "client/client_session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "client/client_host.h"
#include "secure/random.h"

namespace fedge::client {

const char* PhaseName(ClientSession::Phase p) {
  switch (p) {
    case ClientSession::Phase::kRegistering: return "registering";
    case ClientSession::Phase::kIdle: return "idle";
    case ClientSession::Phase::kTraining: return "training";
    case ClientSession::Phase::kDone: return "done";
  }
  return "?";
}

// ---- SessionContext ---------------------------------------------------------

SessionContext::SessionContext(const ClientHostOptions* options, ClientHostStats* stats)
    : options_(options), stats_(stats), gate_(options->model_verifier), rng_(options->seed),
      registrations_(std::random_device()()) {
  if (options_->held_model_version.has_value()) gate_.RefuseBelow(*options_->held_model_version);
}

uint64_t SessionContext::NewRegistration() {
  uint64_t r = 0;
  while (r == 0) r = registrations_();
  return r;
}

absl::Duration SessionContext::Jittered(absl::Duration d) {
  std::uniform_real_distribution<double> u(0.5, 1.5);
  return d * u(rng_);
}

void SessionContext::NoteVerifiedModel(uint64_t version, const protocol::ModelPayload& model,
                                       const protocol::ModelSignature& signature) {
  if (!newest_model_.has_value() || version > *newest_model_) newest_model_ = version;
  if (options_->on_model) options_->on_model(version, model, signature);
}

std::optional<uint64_t> SessionContext::HeldModelVersion() const {
  std::optional<uint64_t> held = options_->held_model_version;
  if (newest_model_.has_value() && (!held.has_value() || *newest_model_ > *held)) {
    held = newest_model_;
  }
  return held;
}

// ---- ClientSession: connection and timers -----------------------------------

ClientSession::ClientSession(size_t index, Spec spec, SessionContext* context, SessionIo* io)
    : index_(index), spec_(std::move(spec)), context_(context), io_(io),
      heartbeat_interval_(context->options().heartbeat_interval),
      backoff_(context->options().backoff_initial) {}

bool ClientSession::busy() const {
  return phase_ == Phase::kTraining || (secure_ != nullptr && !secure_->finished());
}

absl::Status ClientSession::Connect(absl::Time now) {
  last_heard_ = now;
  if (absl::Status s = io_->Reconnect(index_); !s.ok()) return s;
  Register(now);
  return absl::OkStatus();
}

void ClientSession::Register(absl::Time now) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kRegistering;
  secure_.reset();
  update_round_.reset();
  held_.reset();
  io_->Abandon(index_);
  registration_ = context_->NewRegistration();
  SendHello(now);
}

void ClientSession::SendHello(absl::Time now) {
  const ClientHostOptions& options = context_->options();
  protocol::Hello hello;
  hello.client_id = spec_.client_id;
  hello.num_examples = spec_.num_examples;
  hello.capabilities = protocol::kCapBuiltinModels | protocol::kCapTorchScript;
  if (spec_.evaluates) hello.capabilities |= protocol::kCapEvaluate;
  if (options.stop_after_tasks > 0) {
    hello.capabilities |= protocol::kCapCheckIn;
    if (std::optional<uint64_t> held = context_->HeldModelVersion()) {
      hello.has_model = true;
      hello.model_version = *held;
    }
  }
  hello.software_version = "fedge 0.1";
  hello.cached_architectures = io_->CachedArchitectures();
  hello.registration = registration_;
  Send(protocol::Encode(hello));
  // Each unanswered Hello waits twice as long as the one before: a
  // coordinator registering thousands of clients answers late, not never.
  const absl::Duration wait = options.welcome_timeout * (1 << hellos_unanswered_);
  register_deadline_ = now + std::max(context_->Jittered(wait), context_->Jittered(backoff_));
}

absl::Status ClientSession::Reconnect(const char* why, absl::Time now) {
  ++context_->stats().reconnects;
  FEDGE_LOG(kWarning, "client %d: %s; reconnecting (backoff %s)", spec_.client_id, why,
            absl::FormatDuration(backoff_));
  backoff_ = std::min(context_->options().backoff_max, backoff_ * 2);
  hellos_unanswered_ = 0;
  if (absl::Status s = io_->Reconnect(index_); !s.ok()) return s;
  Register(now);
  return absl::OkStatus();
}

absl::Status ClientSession::OnTimer(absl::Time now) {
  if (phase_ == Phase::kDone) return absl::OkStatus();
  const ClientHostOptions& options = context_->options();
  const absl::Duration silent = now - last_heard_;
  if (options.give_up_after > absl::ZeroDuration() && silent > options.give_up_after) {
    const std::string handshake = io_->HandshakeError(index_);
    return absl::UnavailableError(absl::StrCat(
        "client ", spec_.client_id, ": coordinator at ", options.coordinator_endpoint,
        " silent for ", absl::FormatDuration(silent), "; giving up",
        handshake.empty() ? std::string() : absl::StrCat(" (last ", handshake, ")")));
  }
  if (held_.has_value() && now >= release_) {
    TrainingResult r = *std::move(held_);
    held_.reset();
    if (phase_ == Phase::kTraining && r.round == round_) Deliver(r);
  }
  if (phase_ == Phase::kRegistering) {
    if (now < register_deadline_) return absl::OkStatus();
    if (hellos_unanswered_ < kHelloResends) {
      // Ask again on this connection first: a new one would queue one more
      // CURVE handshake at a coordinator already behind (10,000 clients
      // reconnecting every 2 s ran it out of descriptors).
      ++hellos_unanswered_;
      ++context_->stats().hello_resends;
      SendHello(now);
      return absl::OkStatus();
    }
    return Reconnect("no Welcome from the coordinator", now);
  }
  if (silent > options.coordinator_timeout) return Reconnect("coordinator silent", now);
  if (now >= next_heartbeat_) {
    protocol::Heartbeat hb;
    hb.client_id = spec_.client_id;
    hb.round = round_;
    hb.state = phase_ == Phase::kTraining ? protocol::ClientState::kTraining
                                          : protocol::ClientState::kIdle;
    Send(protocol::Encode(hb));
    next_heartbeat_ = now + heartbeat_interval_;
  }
  return absl::OkStatus();
}

absl::Time ClientSession::NextDeadline() const {
  if (phase_ == Phase::kDone) return absl::InfiniteFuture();
  absl::Time next = absl::InfiniteFuture();
  if (phase_ == Phase::kRegistering) {
    next = register_deadline_;
  } else {
    next = std::min(next_heartbeat_, last_heard_ + context_->options().coordinator_timeout);
  }
  if (held_.has_value()) next = std::min(next, release_);
  return next;
}

void ClientSession::Leave(const std::string& reason) {
  // Registering too: the coordinator may have registered its Hello.
  if (phase_ == Phase::kDone) return;
  protocol::Leave bye;
  bye.client_id = spec_.client_id;
  bye.reason = reason;
  Send(protocol::Encode(bye));
}

// ---- Incoming messages: one handler per kind --------------------------------

void ClientSession::OnMessage(protocol::Message& message, absl::Time now) {
  last_heard_ = now;
  std::visit([&](auto& m) { Handle(m, now); }, message);
}

void ClientSession::Handle(protocol::Welcome& m, absl::Time now) {
  if (phase_ != Phase::kRegistering) return;
  phase_ = Phase::kIdle;
  backoff_ = context_->options().backoff_initial;
  hellos_unanswered_ = 0;
  if (m.heartbeat_interval_ms > 0) heartbeat_interval_ = absl::Milliseconds(m.heartbeat_interval_ms);
  // Spread the first heartbeats: thousands of sessions registered in one
  // burst would otherwise beat in step for the whole run.
  next_heartbeat_ = now + context_->Jittered(heartbeat_interval_);
  FEDGE_LOG(kDebug, "client %d: registered", spec_.client_id);
}

void ClientSession::OnTask(protocol::Task& m, std::shared_ptr<const protocol::ModelPayload> shared,
                           absl::Time now) {
  last_heard_ = now;
  const protocol::ModelPayload& model = shared != nullptr ? *shared : m.model;
  ClientHostStats& stats = context_->stats();
  ++stats.tasks_received;
  if (phase_ == Phase::kTraining && m.round == round_) return;  // duplicate
  if (phase_ != Phase::kIdle && phase_ != Phase::kTraining) {
    FEDGE_LOG(kWarning, "client %d: ignoring a task for round %d while %s", spec_.client_id,
              m.round, PhaseName(phase_));
    return;
  }
  // Nothing trains on a model whose signature does not verify or that is
  // older than one already verified; whatever ran before is abandoned.
  if (std::optional<protocol::ErrorReply> refusal = context_->gate().Check(m, model, shared)) {
    ++stats.tasks_refused;
    FEDGE_LOG(kWarning, "client %d: refused a task (%s): %s", spec_.client_id,
              protocol::ErrorCodeName(refusal->code), refusal->message);
    io_->Abandon(index_);
    if (phase_ == Phase::kTraining) phase_ = Phase::kIdle;
    secure_.reset();
    Send(protocol::Encode(*refusal));
    return;
  }
  // A task for another round while training means the coordinator moved on
  // (the round failed or we re-registered): the running job is abandoned at
  // its next batch and its result dropped.
  context_->NoteVerifiedModel(m.model_version, model, m.signature);
  secure_.reset();
  held_.reset();
  if (!TakesTask(spec_.profile, context_->options().seed, spec_.client_id, m.round)) {
    ++stats.tasks_skipped_offline;
    FEDGE_LOG(kInfo, "client %d: round %d: offline for this task (device profile: online %.3g)",
              spec_.client_id, m.round, spec_.profile.online);
    io_->Abandon(index_);
    phase_ = Phase::kIdle;
    return;
  }
  if (m.secure.enabled) {
    // Keys are exchanged now, while the model trains.
    std::string advertise;
    absl::StatusOr<std::unique_ptr<SecureSession>> session =
        SecureSession::Start(m, model, spec_.client_id, secure::SecureRandom::Default(),
                             &advertise);
    if (!session.ok()) {
      io_->Abandon(index_);
      phase_ = Phase::kIdle;
      LeaveRound(m.round, session.status());
      return;
    }
    secure_ = *std::move(session);
    Send(std::move(advertise));
  }
  phase_ = Phase::kTraining;
  round_ = m.round;
  io_->Submit(index_, std::move(m), std::move(shared));
}

void ClientSession::Handle(protocol::GlobalModel& m, absl::Time) {
  if (std::optional<protocol::ErrorReply> refusal = context_->gate().Check(m)) {
    ++context_->stats().models_refused;
    FEDGE_LOG(kWarning, "client %d: refused model version %d (%s): %s", spec_.client_id,
              m.model_version, protocol::ErrorCodeName(refusal->code), refusal->message);
    Send(protocol::Encode(*refusal));
    return;
  }
  ++context_->stats().models_received;
  FEDGE_LOG(kDebug, "client %d: received model version %d", spec_.client_id, m.model_version);
  context_->NoteVerifiedModel(m.model_version, m.model, m.signature);
}

void ClientSession::Handle(protocol::RetryLater& m, absl::Time) {
  FEDGE_LOG(kDebug, "client %d: come back in %d ms (+%d ms): %s", spec_.client_id, m.after_ms,
            m.window_ms, m.reason);
  context_->stats().retry_later = std::move(m);
}

void ClientSession::Handle(protocol::ErrorReply& m, absl::Time now) {
  ClientHostStats& stats = context_->stats();
  ++stats.errors_received;
  if (m.code == protocol::ErrorCode::kRateLimited && phase_ == Phase::kRegistering) {
    // Back-pressure from a coordinator registering many clients: it is
    // alive and answering, so ask again later on this connection (a
    // reconnect would only add a handshake), backing off up to backoff_max.
    hellos_unanswered_ = 0;
    backoff_ = std::min(context_->options().backoff_max, std::max(backoff_ * 2, absl::Seconds(1)));
    register_deadline_ = now + context_->Jittered(backoff_);
    FEDGE_LOG(kDebug, "client %d: registration rate-limited; asking again in ~%s",
              spec_.client_id, absl::FormatDuration(backoff_));
    return;
  }
  // A stale update is routine in async mode (a slow device's), not a fault.
  Log(m.code == protocol::ErrorCode::kStale ? LogLevel::kInfo : LogLevel::kWarning,
      "client %d: coordinator refused a message (%s, round %d): %s", spec_.client_id,
      protocol::ErrorCodeName(m.code), m.round, m.message);
  if (update_round_.has_value() && m.round == *update_round_) {
    ++stats.updates_refused;
    update_round_.reset();
  }
  if (m.code == protocol::ErrorCode::kNotEnrolled) {
    context_->set_fatal(absl::PermissionDeniedError(absl::StrCat(
        "client ", spec_.client_id, ": the coordinator refused it: ", m.message,
        ". Enrol this device's key for client id ", spec_.client_id,
        " (fedge-keygen enrol --allowlist FILE --pub DEVICE.pub --client_ids ...)")));
    return;
  }
  if (m.code == protocol::ErrorCode::kNotRegistered &&
      (phase_ == Phase::kIdle || phase_ == Phase::kTraining)) {
    // The coordinator restarted or dropped us: register again on this
    // connection. While registering a Hello is already in flight; queued
    // heartbeats drawing more refusals must not send more Hellos.
    Register(now);
  }
}

void ClientSession::Handle(protocol::SecAggToClient& m, absl::Time) {
  if (secure_ == nullptr || secure_->round() != m.round) {
    FEDGE_LOG(kDebug, "client %d: ignoring a SecAgg message for round %d", spec_.client_id,
              m.round);
    return;
  }
  absl::StatusOr<std::optional<std::string>> reply = secure_->OnMessage(m);
  if (!reply.ok()) {
    // E.g. asked to reveal both shares of one client: refuse and leave.
    io_->Abandon(index_);
    if (phase_ == Phase::kTraining) phase_ = Phase::kIdle;
    LeaveRound(m.round, reply.status());
    secure_.reset();
    return;
  }
  if (reply->has_value()) Send(*std::move(*reply));
}

void ClientSession::Handle(protocol::Shutdown& m, absl::Time) {
  FEDGE_LOG(kDebug, "client %d: shutdown: %s", spec_.client_id, m.reason);
  phase_ = Phase::kDone;
}

void ClientSession::UnexpectedKind(const char* kind) {
  ++context_->stats().bad_frames;
  FEDGE_LOG(kWarning, "client %d: coordinator sent a %s, which only clients send",
            spec_.client_id, kind);
}

void ClientSession::LeaveRound(uint64_t round, const absl::Status& why) {
  ++context_->stats().training_failures;
  FEDGE_LOG(kWarning, "client %d: round %d: leaving the round: %s", spec_.client_id, round,
            why.ToString());
  protocol::ErrorReply err;
  err.code = protocol::ErrorCode::kInternal;
  err.round = round;
  err.message = absl::StrCat("client left the round: ", why.message());
  Send(protocol::Encode(err));
}

// ---- Training results -------------------------------------------------------

void ClientSession::OnResult(TrainingResult r, absl::Time now) {
  // Shut down, re-registered or given a newer task meanwhile: stale.
  if (phase_ != Phase::kTraining || r.round != round_) return;
  // A slower device's update leaves when that device would have finished;
  // the training thread meanwhile serves the others.
  const absl::Duration hold = r.status.ok() && !r.evaluation ? HoldFor(spec_.profile, r.busy)
                                                             : absl::ZeroDuration();
  if (hold > absl::ZeroDuration()) {
    ++context_->stats().updates_held;
    FEDGE_LOG(kDebug, "client %d: round %d: trained in %s, held %s more (device profile: "
              "%.3gx slower)", spec_.client_id, r.round, absl::FormatDuration(r.busy),
              absl::FormatDuration(hold), spec_.profile.slowdown);
    release_ = now + hold;
    held_ = std::move(r);
    return;
  }
  Deliver(r);
}

void ClientSession::Deliver(TrainingResult& r) {
  ClientHostStats& stats = context_->stats();
  phase_ = Phase::kIdle;
  if (!r.status.ok()) {
    LeaveRound(r.round, r.status);
    secure_.reset();
    return;
  }
  if (secure_ != nullptr) {
    absl::StatusOr<std::optional<std::string>> masked =
        secure_->SetUpdate(r.outcome.delta, r.outcome.num_examples, r.outcome.control_delta);
    if (!masked.ok()) {
      LeaveRound(r.round, masked.status());
      secure_.reset();
      return;
    }
    if (masked->has_value()) Send(*std::move(*masked));
    ++stats.updates_sent;
    update_round_ = r.round;
    FEDGE_LOG(kDebug, "client %d: round %d: update masked (%d coordinates clipped)",
              spec_.client_id, r.round, secure_->clipped_coordinates());
    return;
  }
  protocol::Update u;
  u.round = r.round;
  u.model_version = r.model_version;
  u.client_id = spec_.client_id;
  u.num_examples = r.outcome.num_examples;
  u.metrics = r.outcome.metrics;
  u.encoding = r.outcome.encoding;
  u.delta = std::move(r.outcome.delta);
  u.packed = std::move(r.outcome.packed);
  u.control_delta = std::move(r.outcome.control_delta);
  Send(protocol::Encode(u));
  if (r.evaluation) {
    ++stats.evaluations_sent;
    FEDGE_LOG(kDebug, "client %d: round %d: evaluated model %d on %d held-out examples",
              spec_.client_id, r.round, r.model_version, u.num_examples);
    return;
  }
  ++stats.updates_sent;
  update_round_ = r.round;
  FEDGE_LOG(kDebug, "client %d: round %d: sent update (loss %.4f, %.2fs)", spec_.client_id,
            r.round, u.metrics.loss, u.metrics.train_seconds);
}

}  // namespace fedge::client
