#ifndef FEDGE_CLIENT_CLIENT_SESSION_H_
#define FEDGE_CLIENT_CLIENT_SESSION_H_

// One logical client's side of the protocol, without I/O: the client-side
// counterpart of the coordinator's design. A runner (client_host.cc) feeds it
// decoded messages, training results and the time, and it answers through
// SessionIo: frames to send, training to start or abandon, a connection to
// reopen. The same session runs over a connection of its own (a device) or
// over a channel of one connection a simulation process shares between its
// logical clients; the protocol, signatures and SecAgg are the same.
//
// States:
//   kRegistering --Welcome--> kIdle --Task--> kTraining --(Update sent)--> kIdle
//   any --Shutdown--> kDone
//   any --Error(NOT_REGISTERED)--> kRegistering (Hello again at once)
//   kRegistering, no Welcome after kHelloResends re-sent Hellos, or
//   kIdle/kTraining and the coordinator silent --> Reconnect, kRegistering
//   Error(NOT_ENROLLED) --> context.fatal (the host stops: PermissionDenied)
// A slower simulated device (device_profile.h) holds its finished update in
// kTraining until it would have finished; an offline one leaves the task
// unanswered.
//
// Memory: an idle session is its state below (~300 bytes); model-sized
// buffers live only in the training worker and in messages in flight.
// A session's memory in a process, all told (its training slot and data
// closure too), measured ~1.8 KB (docs/scale.md).
// Not thread-safe: the runner's I/O thread only.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/device_profile.h"
#include "client/model_gate.h"
#include "client/secure_session.h"
#include "client/training_worker.h"
#include "protocol/codec.h"
#include "protocol/messages.h"

namespace fedge::client {

struct ClientHostOptions;
struct ClientHostStats;

// Unanswered Hellos re-sent on one connection before a client reconnects.
inline constexpr int kHelloResends = 3;

// What a session asks of its runner. `session` is the session's index.
class SessionIo {
 public:
  virtual ~SessionIo() = default;
  // Queues a frame on the session's connection or channel; the frame's
  // bytes are handed to ZeroMQ, not copied (an update is model-sized).
  virtual void Send(size_t session, std::string frame) = 0;
  // Opens the session's connection anew (a CURVE handshake that failed is not
  // retried by ZeroMQ). A shared connection is the runner's to reopen; then
  // this does nothing.
  virtual absl::Status Reconnect(size_t session) = 0;
  // Why the session's connection last failed its handshake; empty if not.
  virtual std::string HandshakeError(size_t session) const = 0;
  // Starts training `task`; a running or queued job of the session is
  // abandoned at its next batch and its result dropped. A non-null `model`
  // is the task's model, shared with the other tasks of its round (the
  // task's own is then empty).
  virtual void Submit(size_t session, protocol::Task task,
                      std::shared_ptr<const protocol::ModelPayload> model) = 0;
  virtual void Abandon(size_t session) = 0;
  // Architectures the trainer has cached, for the Hello.
  virtual std::vector<std::string> CachedArchitectures() const = 0;
};

// State the sessions of one host share.
class SessionContext {
 public:
  SessionContext(const ClientHostOptions* options, ClientHostStats* stats);

  const ClientHostOptions& options() const { return *options_; }
  ClientHostStats& stats() { return *stats_; }
  ModelGate& gate() { return gate_; }
  // Scales d by a uniform factor in [0.5, 1.5).
  absl::Duration Jittered(absl::Duration d);
  // A fresh nonzero Hello.registration: random, so a restarted host (same
  // --seed) never repeats one it used before.
  uint64_t NewRegistration();

  // A model passed the gate: the newest this host holds, and the caller's.
  void NoteVerifiedModel(uint64_t version, const protocol::ModelPayload& model,
                         const protocol::ModelSignature& signature);
  // The newest model version the device holds (check-in Hellos).
  std::optional<uint64_t> HeldModelVersion() const;

  // Set when the host must stop (e.g. NOT_ENROLLED).
  const absl::Status& fatal() const { return fatal_; }
  void set_fatal(absl::Status s) { fatal_ = std::move(s); }

 private:
  const ClientHostOptions* options_;
  ClientHostStats* stats_;
  ModelGate gate_;
  std::mt19937_64 rng_;
  std::mt19937_64 registrations_;
  std::optional<uint64_t> newest_model_;
  absl::Status fatal_;
};

class ClientSession {
 public:
  enum class Phase { kRegistering, kIdle, kTraining, kDone };

  struct Spec {
    uint64_t client_id = 0;
    uint64_t num_examples = 0;
    bool evaluates = false;  // holds a held-out split (kCapEvaluate)
    DeviceProfile profile;
  };

  ClientSession(size_t index, Spec spec, SessionContext* context, SessionIo* io);

  size_t index() const { return index_; }
  uint64_t id() const { return spec_.client_id; }
  Phase phase() const { return phase_; }
  bool done() const { return phase_ == Phase::kDone; }
  // Training, or a secure-aggregation round that still needs this client.
  bool busy() const;

  // Opens the connection (SessionIo::Reconnect) and registers.
  absl::Status Connect(absl::Time now);
  // Registers on the current connection: forgets the round, sends a Hello.
  // The runner calls it for every session when it reopened a shared one.
  void Register(absl::Time now);

  void OnMessage(protocol::Message& message, absl::Time now);
  // A task whose model is `model`, shared by the tasks a connection carried
  // for its version (task.model is empty): neither copied nor compared byte
  // by byte per task.
  void OnTask(protocol::Task& task, std::shared_ptr<const protocol::ModelPayload> model,
              absl::Time now);
  // A training or evaluation result of this session (stale ones are dropped).
  void OnResult(TrainingResult result, absl::Time now);
  // Heartbeats, re-sent Hellos, reconnects, held updates. Unavailable once
  // the coordinator has been silent past options.give_up_after.
  absl::Status OnTimer(absl::Time now);
  // When OnTimer next has something to do.
  absl::Time NextDeadline() const;
  // The host is ending: tells the coordinator, unless shut down already.
  void Leave(const std::string& reason);

 private:
  void Handle(protocol::Welcome& m, absl::Time now);
  void Handle(protocol::Task& m, absl::Time now) { OnTask(m, nullptr, now); }
  void Handle(protocol::GlobalModel& m, absl::Time now);
  void Handle(protocol::RetryLater& m, absl::Time now);
  void Handle(protocol::ErrorReply& m, absl::Time now);
  void Handle(protocol::Heartbeat&, absl::Time) {}
  void Handle(protocol::SecAggToClient& m, absl::Time now);
  void Handle(protocol::Shutdown& m, absl::Time now);
  void Handle(protocol::Hello&, absl::Time) { UnexpectedKind("Hello"); }
  void Handle(protocol::Update&, absl::Time) { UnexpectedKind("Update"); }
  void Handle(protocol::SecAggToServer&, absl::Time) { UnexpectedKind("SecAggToServer"); }
  void Handle(protocol::Leave&, absl::Time) { UnexpectedKind("Leave"); }
  void Handle(protocol::PredictRequest&, absl::Time) { UnexpectedKind("PredictRequest"); }
  // Predictions travel on the SDK's own connection (client/sdk), not here.
  void Handle(protocol::PredictReply&, absl::Time) { UnexpectedKind("PredictReply"); }
  void UnexpectedKind(const char* kind);

  void SendHello(absl::Time now);
  absl::Status Reconnect(const char* why, absl::Time now);
  void Send(std::string frame) { io_->Send(index_, std::move(frame)); }
  // Tells the coordinator this client left the round, and why.
  void LeaveRound(uint64_t round, const absl::Status& why);
  // Sends a current result: the update (plain or masked), the evaluation,
  // or the reason the client leaves the round.
  void Deliver(TrainingResult& r);

  const size_t index_;
  const Spec spec_;
  SessionContext* const context_;
  SessionIo* const io_;
  Phase phase_ = Phase::kRegistering;
  absl::Duration heartbeat_interval_;
  absl::Duration backoff_;
  absl::Time last_heard_;
  absl::Time next_heartbeat_;
  absl::Time register_deadline_;  // re-register if no Welcome by then
  int hellos_unanswered_ = 0;     // Hellos re-sent on this connection
  uint64_t registration_ = 0;     // Hello.registration, drawn by Register()
  uint64_t round_ = 0;
  // The current round's secure aggregation, when the task asked for it.
  // Outlives training: unmasking happens after the update is sent.
  std::unique_ptr<SecureSession> secure_;
  // The round of the last update sent on this connection, to recognise the
  // coordinator's refusal of it.
  std::optional<uint64_t> update_round_;
  // A simulated slower device: its finished training, held until release_
  // (the phase stays kTraining meanwhile).
  std::optional<TrainingResult> held_;
  absl::Time release_;
};

const char* PhaseName(ClientSession::Phase p);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_CLIENT_SESSION_H_
