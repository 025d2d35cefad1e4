#include "client/client_host.h"

#include <deque>
#include <optional>
#include <random>

#include <zmq.hpp>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "client/coordinator_link.h"
#include "client/model_gate.h"
#include "client/secure_session.h"
#include "protocol/wire.h"
#include "secure/random.h"

namespace fedge::client {
namespace {

enum class Phase { kRegistering, kIdle, kTraining, kDone };

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kRegistering: return "registering";
    case Phase::kIdle: return "idle";
    case Phase::kTraining: return "training";
    case Phase::kDone: return "done";
  }
  return "?";
}

}  // namespace

class ClientHost::Impl {
 public:
  Impl(ClientHostOptions options, TrainerFactory trainer_factory,
       std::vector<LogicalClientSpec> specs, Clock* clock, ClientHostStats* stats)
      : options_(std::move(options)), clock_(clock), stats_(stats),
        model_gate_(options_.model_verifier), rng_(options_.seed),
        wake_endpoint_(absl::StrCat(
            "inproc://fedge-client-wake-", reinterpret_cast<uintptr_t>(this))) {
    SizeContextForClients(ctx_, specs.size());
    std::vector<TrainingWorker::ClientData> data;
    for (LogicalClientSpec& s : specs) {
      LogicalClient c;
      c.id = s.client_id;
      c.num_examples = s.num_examples;
      c.evaluates = static_cast<bool>(s.eval_data);
      c.profile = s.profile;
      c.heartbeat_interval = options_.heartbeat_interval;
      c.backoff = options_.backoff_initial;
      CoordinatorLink::Options link;
      link.endpoint = options_.coordinator_endpoint;
      link.max_frame_bytes = options_.limits.max_frame_bytes;
      link.reconnect_interval = options_.backoff_initial;
      link.reconnect_interval_max = options_.backoff_max;
      link.curve = options_.curve;
      c.link = std::make_unique<CoordinatorLink>(&ctx_, std::move(link), c.id);
      clients_.push_back(std::move(c));
      data.push_back({std::move(s.data), s.num_examples, std::move(s.decorate),
                      std::move(s.eval_data), s.eval_examples, s.local_state, s.client_id});
    }
    if (options_.held_model_version.has_value()) {
      model_gate_.RefuseBelow(*options_.held_model_version);
    }
    worker_ = std::make_unique<TrainingWorker>(std::move(trainer_factory), std::move(data),
                                               [this] { Wake(); }, clock_);
  }

  absl::Status Run() {
    wake_pull_ = zmq::socket_t(ctx_, zmq::socket_type::pull);
    FEDGE_RETURN_IF_ERROR(protocol::Bind(wake_pull_, wake_endpoint_).status());
    worker_->Start();
    absl::Status result = Serve();
    worker_->Stop();
    // Whatever ended the run, a client says it is leaving, and a
    // last update or Leave gets a bounded time to go out (sockets linger 0).
    const absl::Duration linger = std::clamp(options_.heartbeat_interval,
                                             absl::Milliseconds(100), absl::Seconds(2));
    for (LogicalClient& c : clients_) {
      // Registering too: the coordinator may have registered its Hello.
      if (c.phase != Phase::kDone && c.link->open()) {
        protocol::Leave bye;
        bye.client_id = c.id;
        bye.reason = result.ok() ? "done" : std::string(result.message());
        Send(c, protocol::Encode(bye));
      }
      c.link->Close(linger);
    }
    wake_pull_.close();
    return result;
  }

  void Stop() {
    stop_.store(true);
    Wake();
  }

 private:
  struct LogicalClient {
    uint64_t id = 0;
    uint64_t num_examples = 0;
    bool evaluates = false;  // holds a held-out split (kCapEvaluate)
    std::unique_ptr<CoordinatorLink> link;
    Phase phase = Phase::kRegistering;
    absl::Duration heartbeat_interval;
    absl::Duration backoff;
    absl::Time last_heard;
    absl::Time next_heartbeat;
    absl::Time register_deadline;  // re-register if no Welcome by then
    int hellos_unanswered = 0;      // Hellos re-sent on this connection
    uint64_t round = 0;
    // The current round's secure aggregation, when the task asked for it.
    // Outlives training: unmasking happens after the update is sent.
    std::unique_ptr<SecureSession> secure;
    // The round of the last update sent on this connection, to recognise the
    // coordinator's refusal of it.
    std::optional<uint64_t> update_round;
    // A simulated slower device (client/device_profile.h): its finished
    // training, held until `release` (phase stays kTraining meanwhile).
    DeviceProfile profile;
    std::optional<TrainingResult> held;
    absl::Time release;
  };

  absl::Status Serve() {
    const absl::Time start = clock_->Now();
    for (LogicalClient& c : clients_) {
      c.last_heard = start;
      FEDGE_RETURN_IF_ERROR(OpenAndRegister(c));
    }
    // [wake, client sockets..., their handshake monitors...]
    const size_t n = clients_.size();
    std::vector<zmq::pollitem_t> items(2 * n + 1);
    while (true) {
      if (stop_.load()) return absl::CancelledError("client host stopped");
      bool all_done = true;
      for (const LogicalClient& c : clients_) all_done &= c.phase == Phase::kDone;
      if (all_done || TasksDone()) return absl::OkStatus();

      absl::Time now = clock_->Now();
      FEDGE_RETURN_IF_ERROR(RunTimers(now));
      ReleaseHeld(now);
      absl::Time next = NextDeadline(now);

      items[0] = {wake_pull_.handle(), 0, ZMQ_POLLIN, 0};
      for (size_t i = 0; i < n; ++i) {
        items[i + 1] = {clients_[i].link->socket().handle(), 0, ZMQ_POLLIN, 0};
        items[n + i + 1] = {clients_[i].link->handshake_events().handle(), 0, ZMQ_POLLIN, 0};
      }
      FEDGE_RETURN_IF_ERROR(protocol::Poll(items.data(), items.size(), next - now).status());
      if (items[0].revents & ZMQ_POLLIN) {
        DrainWake();
        FEDGE_RETURN_IF_ERROR(worker_->fatal());
      }
      for (size_t i = 0; i < n; ++i) {
        if (items[i + 1].revents & ZMQ_POLLIN) ReceiveAll(clients_[i]);
        if (items[n + i + 1].revents & ZMQ_POLLIN) {
          stats_->handshake_failures += clients_[i].link->ReadHandshakeEvents(clock_->Now());
        }
      }
      if (!io_fatal_.ok()) return io_fatal_;
      DeliverResults();
    }
  }

  // Check-in mode: is this check-in over?
  bool TasksDone() {
    if (options_.stop_after_tasks == 0) return false;
    for (const LogicalClient& c : clients_) {
      if (c.phase == Phase::kTraining) return false;
      if (c.secure != nullptr && !c.secure->finished()) return false;
    }
    // Nothing runs: the coordinator said when to come back.
    if (stats_->retry_later.has_value()) return true;
    const ClientHostStats& s = *stats_;
    if (s.updates_sent + s.training_failures + s.tasks_refused < options_.stop_after_tasks) {
      tasks_ended_at_.reset();
      return false;
    }
    // The tasks ended; the coordinator's RetryLater is due shortly.
    const absl::Time now = clock_->Now();
    if (!tasks_ended_at_.has_value()) tasks_ended_at_ = now;
    return now - *tasks_ended_at_ >= options_.heartbeat_interval;
  }

  // ---- Connection management ----------------------------------------------

  absl::Status OpenAndRegister(LogicalClient& c) {
    FEDGE_RETURN_IF_ERROR(c.link->Open());
    c.phase = c.phase == Phase::kDone ? Phase::kDone : Phase::kRegistering;
    c.secure.reset();
    c.update_round.reset();
    c.held.reset();
    worker_->Abandon(Index(c));
    SendHello(c);
    return absl::OkStatus();
  }

  void SendHello(LogicalClient& c) {
    protocol::Hello hello;
    hello.client_id = c.id;
    hello.num_examples = c.num_examples;
    hello.capabilities = protocol::kCapBuiltinModels | protocol::kCapTorchScript;
    if (c.evaluates) hello.capabilities |= protocol::kCapEvaluate;
    if (options_.stop_after_tasks > 0) {
      hello.capabilities |= protocol::kCapCheckIn;
      if (std::optional<uint64_t> held = HeldModelVersion()) {
        hello.has_model = true;
        hello.model_version = *held;
      }
    }
    hello.software_version = "fedge 0.1";
    hello.cached_architectures = worker_->CachedArchitectures();
    Send(c, protocol::Encode(hello));
    // Each unanswered Hello waits twice as long as the one before: a
    // coordinator registering thousands of clients answers late, not never.
    const absl::Duration wait = options_.welcome_timeout * (1 << c.hellos_unanswered);
    c.register_deadline = clock_->Now() + std::max(Jittered(wait), Jittered(c.backoff));
  }

  absl::Duration Jittered(absl::Duration d) {
    std::uniform_real_distribution<double> u(0.5, 1.5);
    return d * u(rng_);
  }

  absl::Status Reconnect(LogicalClient& c, const char* why) {
    ++stats_->reconnects;
    FEDGE_LOG(kWarning, "client %d: %s; reconnecting (backoff %s)", c.id, why,
              absl::FormatDuration(c.backoff));
    c.backoff = std::min(options_.backoff_max, c.backoff * 2);
    c.hellos_unanswered = 0;
    return OpenAndRegister(c);
  }

  absl::Status RunTimers(absl::Time now) {
    for (LogicalClient& c : clients_) {
      if (c.phase == Phase::kDone) continue;
      const absl::Duration silent = now - c.last_heard;
      if (options_.give_up_after > absl::ZeroDuration() && silent > options_.give_up_after) {
        return absl::UnavailableError(absl::StrCat(
            "client ", c.id, ": coordinator at ", options_.coordinator_endpoint,
            " silent for ", absl::FormatDuration(silent), "; giving up",
            c.link->handshake_error().empty()
                ? std::string()
                : absl::StrCat(" (last ", c.link->handshake_error(), ")")));
      }
      if (c.phase == Phase::kRegistering) {
        if (now >= c.register_deadline) {
          if (c.hellos_unanswered < kHelloResends) {
            // Ask again on this connection first: a new one would queue one
            // more CURVE handshake at a coordinator already behind (10,000
            // clients reconnecting every 2 s ran it out of descriptors).
            ++c.hellos_unanswered;
            ++stats_->hello_resends;
            SendHello(c);
          } else {
            FEDGE_RETURN_IF_ERROR(Reconnect(c, "no Welcome from the coordinator"));
          }
        }
        continue;
      }
      if (silent > options_.coordinator_timeout) {
        FEDGE_RETURN_IF_ERROR(Reconnect(c, "coordinator silent"));
        continue;
      }
      if (now >= c.next_heartbeat) {
        protocol::Heartbeat hb;
        hb.client_id = c.id;
        hb.round = c.round;
        hb.state = c.phase == Phase::kTraining ? protocol::ClientState::kTraining
                                               : protocol::ClientState::kIdle;
        Send(c, protocol::Encode(hb));
        c.next_heartbeat = now + c.heartbeat_interval;
      }
    }
    return absl::OkStatus();
  }

  absl::Time NextDeadline(absl::Time now) const {
    absl::Time next = now + absl::Seconds(1);
    if (tasks_ended_at_.has_value()) {
      next = std::min(next, *tasks_ended_at_ + options_.heartbeat_interval);
    }
    for (const LogicalClient& c : clients_) {
      if (c.phase == Phase::kDone) continue;
      if (c.phase == Phase::kRegistering) {
        next = std::min(next, c.register_deadline);
      } else {
        next = std::min(next, c.next_heartbeat);
        next = std::min(next, c.last_heard + options_.coordinator_timeout);
      }
      if (c.held.has_value()) next = std::min(next, c.release);
    }
    return std::max(next, now);
  }

  void Send(LogicalClient& c, const std::string& frame) {
    if (c.link->Send(frame)) stats_->bytes_sent += frame.size();
  }

  // ---- Incoming messages: one handler per kind ------------------------------

  void ReceiveAll(LogicalClient& c) {
    while (true) {
      auto frame = protocol::ReceiveFrame(c.link->socket());
      if (!frame.ok() || !frame->has_value()) return;
      stats_->bytes_received += (*frame)->size();
      absl::StatusOr<protocol::Message> msg =
          protocol::Decode(protocol::View(**frame), options_.limits);
      if (!msg.ok()) {
        ++stats_->bad_frames;
        FEDGE_LOG(kWarning, "client %d: refused a frame from the coordinator: %s", c.id,
                  msg.status().ToString());
        continue;
      }
      c.last_heard = clock_->Now();
      std::visit([&](auto& m) { Handle(c, m); }, *msg);
    }
  }

  void Handle(LogicalClient& c, protocol::Welcome& m) {
    if (c.phase != Phase::kRegistering) return;
    c.phase = Phase::kIdle;
    c.backoff = options_.backoff_initial;
    c.hellos_unanswered = 0;
    if (m.heartbeat_interval_ms > 0) {
      c.heartbeat_interval = absl::Milliseconds(m.heartbeat_interval_ms);
    }
    c.next_heartbeat = clock_->Now() + c.heartbeat_interval;
    FEDGE_LOG(kDebug, "client %d: registered", c.id);
  }

  void Handle(LogicalClient& c, protocol::Task& m) {
    ++stats_->tasks_received;
    if (c.phase == Phase::kTraining && m.round == c.round) return;  // duplicate
    if (c.phase != Phase::kIdle && c.phase != Phase::kTraining) {
      FEDGE_LOG(kWarning, "client %d: ignoring a task for round %d while %s", c.id, m.round,
                PhaseName(c.phase));
      return;
    }
    // Nothing trains on a model whose signature does not verify or that is
    // older than one already verified; whatever ran before is abandoned.
    if (std::optional<protocol::ErrorReply> refusal = model_gate_.Check(m)) {
      ++stats_->tasks_refused;
      FEDGE_LOG(kWarning, "client %d: refused a task (%s): %s", c.id,
                protocol::ErrorCodeName(refusal->code), refusal->message);
      worker_->Abandon(Index(c));
      if (c.phase == Phase::kTraining) c.phase = Phase::kIdle;
      c.secure.reset();
      Send(c, protocol::Encode(*refusal));
      return;
    }
    // A task for another round while training means the coordinator moved on
    // (the round failed or we re-registered): the running job is abandoned at
    // its next batch and its result dropped.
    NoteVerifiedModel(m.model_version, m.model, m.signature);
    c.secure.reset();
    c.held.reset();
    if (!TakesTask(c.profile, options_.seed, c.id, m.round)) {
      ++stats_->tasks_skipped_offline;
      FEDGE_LOG(kInfo, "client %d: round %d: offline for this task (device profile: online "
                "%.3g)", c.id, m.round, c.profile.online);
      worker_->Abandon(Index(c));
      c.phase = Phase::kIdle;
      return;
    }
    if (m.secure.enabled) {
      // Keys are exchanged now, while the model trains.
      std::string advertise;
      absl::StatusOr<std::unique_ptr<SecureSession>> session =
          SecureSession::Start(m, c.id, secure::SecureRandom::Default(), &advertise);
      if (!session.ok()) {
        worker_->Abandon(Index(c));
        c.phase = Phase::kIdle;
        LeaveRound(c, m.round, session.status());
        return;
      }
      c.secure = *std::move(session);
      Send(c, advertise);
    }
    c.phase = Phase::kTraining;
    c.round = m.round;
    worker_->Submit(Index(c), std::move(m));
  }

  void Handle(LogicalClient& c, protocol::GlobalModel& m) {
    if (std::optional<protocol::ErrorReply> refusal = model_gate_.Check(m)) {
      ++stats_->models_refused;
      FEDGE_LOG(kWarning, "client %d: refused model version %d (%s): %s", c.id, m.model_version,
                protocol::ErrorCodeName(refusal->code), refusal->message);
      Send(c, protocol::Encode(*refusal));
      return;
    }
    ++stats_->models_received;
    FEDGE_LOG(kDebug, "client %d: received model version %d", c.id, m.model_version);
    NoteVerifiedModel(m.model_version, m.model, m.signature);
  }

  void Handle(LogicalClient& c, protocol::RetryLater& m) {
    FEDGE_LOG(kDebug, "client %d: come back in %d ms (+%d ms): %s", c.id, m.after_ms,
              m.window_ms, m.reason);
    stats_->retry_later = std::move(m);
  }

  // A model passed the gate: the newest this host holds, and the caller's.
  void NoteVerifiedModel(uint64_t version, const protocol::ModelPayload& model,
                         const protocol::ModelSignature& signature) {
    if (!newest_model_.has_value() || version > *newest_model_) newest_model_ = version;
    if (options_.on_model) options_.on_model(version, model, signature);
  }

  std::optional<uint64_t> HeldModelVersion() const {
    std::optional<uint64_t> held = options_.held_model_version;
    if (newest_model_.has_value() && (!held.has_value() || *newest_model_ > *held)) {
      held = newest_model_;
    }
    return held;
  }

  size_t Index(const LogicalClient& c) const { return static_cast<size_t>(&c - clients_.data()); }

  void Handle(LogicalClient& c, protocol::ErrorReply& m) {
    ++stats_->errors_received;
    if (m.code == protocol::ErrorCode::kRateLimited && c.phase == Phase::kRegistering) {
      // Back-pressure from a coordinator registering many clients: it is
      // alive and answering, so ask again later on this connection (a
      // reconnect would only add a handshake), backing off up to backoff_max.
      c.hellos_unanswered = 0;
      c.backoff = std::min(options_.backoff_max, std::max(c.backoff * 2, absl::Seconds(1)));
      c.register_deadline = clock_->Now() + Jittered(c.backoff);
      FEDGE_LOG(kDebug, "client %d: registration rate-limited; asking again in ~%s", c.id,
                absl::FormatDuration(c.backoff));
      return;
    }
    FEDGE_LOG(kWarning, "client %d: coordinator refused a message (%s, round %d): %s", c.id,
              protocol::ErrorCodeName(m.code), m.round, m.message);
    if (c.update_round.has_value() && m.round == *c.update_round) {
      ++stats_->updates_refused;
      c.update_round.reset();
    }
    if (m.code == protocol::ErrorCode::kNotEnrolled) {
      io_fatal_ = absl::PermissionDeniedError(absl::StrCat(
          "client ", c.id, ": the coordinator refused it: ", m.message,
          ". Enrol this device's key for client id ", c.id,
          " (fedge-keygen enrol --allowlist FILE --pub DEVICE.pub --client_ids ...)"));
      return;
    }
    if (m.code == protocol::ErrorCode::kNotRegistered &&
        (c.phase == Phase::kIdle || c.phase == Phase::kTraining)) {
      // The coordinator restarted or dropped us: register again on this
      // socket. While registering a Hello is already in flight; queued
      // heartbeats drawing more refusals must not send more Hellos.
      c.phase = Phase::kRegistering;
      worker_->Abandon(Index(c));
      SendHello(c);
    }
  }

  void Handle(LogicalClient&, protocol::Heartbeat&) {}

  void Handle(LogicalClient& c, protocol::SecAggToClient& m) {
    if (c.secure == nullptr || c.secure->round() != m.round) {
      FEDGE_LOG(kDebug, "client %d: ignoring a SecAgg message for round %d", c.id, m.round);
      return;
    }
    absl::StatusOr<std::optional<std::string>> reply = c.secure->OnMessage(m);
    if (!reply.ok()) {
      // E.g. asked to reveal both shares of one client: refuse and leave.
      worker_->Abandon(Index(c));
      if (c.phase == Phase::kTraining) c.phase = Phase::kIdle;
      LeaveRound(c, m.round, reply.status());
      c.secure.reset();
      return;
    }
    if (reply->has_value()) Send(c, **reply);
  }

  // Tells the coordinator this client left the round, and why.
  void LeaveRound(LogicalClient& c, uint64_t round, const absl::Status& why) {
    ++stats_->training_failures;
    FEDGE_LOG(kWarning, "client %d: round %d: leaving the round: %s", c.id, round,
              why.ToString());
    protocol::ErrorReply err;
    err.code = protocol::ErrorCode::kInternal;
    err.round = round;
    err.message = absl::StrCat("client left the round: ", why.message());
    Send(c, protocol::Encode(err));
  }

  void Handle(LogicalClient& c, protocol::Shutdown& m) {
    FEDGE_LOG(kDebug, "client %d: shutdown: %s", c.id, m.reason);
    c.phase = Phase::kDone;
  }

  void Handle(LogicalClient& c, protocol::Hello&) { UnexpectedKind(c, "Hello"); }
  void Handle(LogicalClient& c, protocol::Update&) { UnexpectedKind(c, "Update"); }
  void Handle(LogicalClient& c, protocol::SecAggToServer&) { UnexpectedKind(c, "SecAggToServer"); }
  void Handle(LogicalClient& c, protocol::Leave&) { UnexpectedKind(c, "Leave"); }
  void UnexpectedKind(LogicalClient& c, const char* kind) {
    ++stats_->bad_frames;
    FEDGE_LOG(kWarning, "client %d: coordinator sent a %s, which only clients send", c.id, kind);
  }

  // Called from the training thread. Out of sockets or descriptors the wake
  // is skipped, not fatal: the I/O loop still takes the result at its next
  // timer (at most a heartbeat interval away).
  void Wake() {
    try {
      zmq::socket_t s(ctx_, zmq::socket_type::push);
      s.set(zmq::sockopt::linger, 0);
      s.connect(wake_endpoint_);
      s.send(zmq::str_buffer("w"), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (wake_failures_.fetch_add(1) == 0) {
        FEDGE_LOG(kWarning, "cannot wake the I/O thread (%s); results wait for its next timer",
                  e.what());
      }
    }
  }

  void DrainWake() {
    zmq::message_t m;
    while (wake_pull_.recv(m, zmq::recv_flags::dontwait)) {
    }
  }

  // ---- Training results -----------------------------------------------------

  void DeliverResults() {
    for (TrainingResult& r : worker_->TakeResults()) {
      LogicalClient& c = clients_[r.client];
      // Shut down, re-registered or given a newer task meanwhile: stale.
      if (c.phase != Phase::kTraining || r.round != c.round) continue;
      // A slower device's update leaves when that device would have
      // finished; the training thread meanwhile serves the others.
      const absl::Duration hold = r.status.ok() && !r.evaluation
                                      ? HoldFor(c.profile, r.busy)
                                      : absl::ZeroDuration();
      if (hold > absl::ZeroDuration()) {
        ++stats_->updates_held;
        FEDGE_LOG(kDebug, "client %d: round %d: trained in %s, held %s more (device profile: "
                  "%.3gx slower)", c.id, r.round, absl::FormatDuration(r.busy),
                  absl::FormatDuration(hold), c.profile.slowdown);
        c.release = clock_->Now() + hold;
        c.held = std::move(r);
        continue;
      }
      Deliver(c, r);
    }
  }

  // Sends the results a slower device held once they are due.
  void ReleaseHeld(absl::Time now) {
    for (LogicalClient& c : clients_) {
      if (!c.held.has_value() || now < c.release) continue;
      TrainingResult r = *std::move(c.held);
      c.held.reset();
      if (c.phase != Phase::kTraining || r.round != c.round) continue;
      Deliver(c, r);
    }
  }

  // Sends a current result: the update (plain or masked), the evaluation, or
  // the reason the client leaves the round.
  void Deliver(LogicalClient& c, TrainingResult& r) {
    c.phase = Phase::kIdle;
    if (!r.status.ok()) {
      LeaveRound(c, r.round, r.status);
      c.secure.reset();
      return;
    }
    if (c.secure != nullptr) {
      absl::StatusOr<std::optional<std::string>> masked =
          c.secure->SetUpdate(r.outcome.delta, r.outcome.num_examples,
                              r.outcome.control_delta);
      if (!masked.ok()) {
        LeaveRound(c, r.round, masked.status());
        c.secure.reset();
        return;
      }
      if (masked->has_value()) Send(c, **masked);
      ++stats_->updates_sent;
      c.update_round = r.round;
      FEDGE_LOG(kDebug, "client %d: round %d: update masked (%d coordinates clipped)", c.id,
                r.round, c.secure->clipped_coordinates());
      return;
    }
    protocol::Update u;
    u.round = r.round;
    u.model_version = r.model_version;
    u.client_id = c.id;
    u.num_examples = r.outcome.num_examples;
    u.metrics = r.outcome.metrics;
    u.encoding = r.outcome.encoding;
    u.delta = std::move(r.outcome.delta);
    u.packed = std::move(r.outcome.packed);
    u.control_delta = std::move(r.outcome.control_delta);
    Send(c, protocol::Encode(u));
    if (r.evaluation) {
      ++stats_->evaluations_sent;
      FEDGE_LOG(kDebug, "client %d: round %d: evaluated model %d on %d held-out examples",
                c.id, r.round, r.model_version, u.num_examples);
      return;
    }
    ++stats_->updates_sent;
    c.update_round = r.round;
    FEDGE_LOG(kDebug, "client %d: round %d: sent update (loss %.4f, %.2fs)", c.id, r.round,
              u.metrics.loss, u.metrics.train_seconds);
  }

  ClientHostOptions options_;
  Clock* clock_;
  ClientHostStats* stats_;
  ModelGate model_gate_;  // I/O thread only
  // Set by a handler when the host must stop (e.g. NOT_ENROLLED); I/O thread.
  absl::Status io_fatal_;
  std::mt19937_64 rng_;
  const std::string wake_endpoint_;
  zmq::context_t ctx_;
  zmq::socket_t wake_pull_;
  std::vector<LogicalClient> clients_;
  std::unique_ptr<TrainingWorker> worker_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> wake_failures_{0};
  // The newest model version that passed the gate in this run.
  std::optional<uint64_t> newest_model_;
  // Check-in mode: when the tasks ended (awaiting the coordinator's RetryLater).
  std::optional<absl::Time> tasks_ended_at_;
};

ClientHost::ClientHost(ClientHostOptions options, TrainerFactory trainer_factory,
                       std::vector<LogicalClientSpec> clients, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(trainer_factory),
                                   std::move(clients), clock, &stats_)) {}

ClientHost::~ClientHost() = default;

absl::Status ClientHost::Run() { return impl_->Run(); }
void ClientHost::Stop() { impl_->Stop(); }

}  // namespace fedge::client
