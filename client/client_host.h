#ifndef FEDGE_CLIENT_CLIENT_HOST_H_
#define FEDGE_CLIENT_CLIENT_HOST_H_

// Runs one or more logical clients in one process: the thin runner around
// their sans-I/O protocol state machines (client_session.h). The logical
// clients share one Trainer and one training thread (training_worker.h),
// since a device or a simulation process has few cores and training is the
// bottleneck.
//
// Connections. By default each logical client has its own DEALER socket, as
// a device does. With `multiplex` (simulations) the process opens one
// connection and each logical client talks on a channel of it, named by its
// client id (protocol/wire.h): one socket, one CURVE handshake and one
// descriptor whatever the number of clients, which is what lets one machine
// host 10,000. The coordinator sees each channel as a peer of its own; the
// messages, signatures and SecAgg are the same. A NOT_ENROLLED refusal makes
// Run fail (PermissionDenied): this device's key is not enrolled for the id.
//
// Check-in mode (`stop_after_tasks` > 0, the SDK's run-once): the Hello says
// so (kCapCheckIn) and names the newest model the device holds; the
// coordinator answers with the newest model if the device's is older
// (GlobalModel, verified like a task's) and with RetryLater when it has no
// (more) work for the device. Run returns once the tasks ended and the
// coordinator said when to come back (or `heartbeat_interval` passed), or
// at a RetryLater while no task runs. On the way out every registered
// logical client sends Leave, so the coordinator forgets it at once.
//
// Security. With `curve` every socket is a CURVE client pinned to the
// coordinator's key; handshake failures (key not enrolled, wrong pinned key,
// plain-TCP coordinator) are logged and named in the error Run returns when
// it gives up. With `model_verifier` a task is trained only if its model
// signature verifies with the pinned key and its model version is not lower
// than the highest version this host has verified (rollback); otherwise it is
// refused untrained and the coordinator told (BAD_SIGNATURE / ROLLBACK). The
// highest version is kept in memory, for the life of the process.
// No torch here: training goes through the Trainer seam.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "data/dataset.h"
#include "client/client_session.h"
#include "client/device_profile.h"
#include "client/trainer.h"
#include "client/training_worker.h"
#include "protocol/codec.h"
#include "protocol/model_signature.h"
#include "protocol/wire.h"

namespace fedge::client {

struct ClientHostOptions {
  std::string coordinator_endpoint;
  // Until the coordinator's Welcome says otherwise.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // Nothing heard from the coordinator for this long: reconnect.
  absl::Duration coordinator_timeout = absl::Seconds(10);
  // How long a Hello waits for its Welcome before the client asks again on
  // the same connection (twice as long each time: 2, 4, 8 s), reconnecting
  // only after kHelloResends unanswered re-sends. A CURVE handshake on a
  // loaded machine can take hundreds of milliseconds, and a premature
  // reconnect costs the client its place in a starting round.
  absl::Duration welcome_timeout = absl::Seconds(2);
  absl::Duration backoff_initial = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  // Give up (Run returns Unavailable) when the coordinator has been silent
  // this long; zero means retry for ever.
  absl::Duration give_up_after = absl::ZeroDuration();
  protocol::DecodeLimits limits;
  uint64_t seed = 0;  // for backoff jitter, and the device profiles' coins
  // One connection for all the logical clients, a channel each (above);
  // the process's key must then be enrolled for all their ids.
  bool multiplex = false;
  // Training threads, each with its own trainer, taking the next queued task
  // of any of this host's logical clients (client/training_worker.h). More
  // than one suits a process hosting many clients (simulations): its threads
  // finish a round together, where processes of one thread each wait for the
  // slowest. A device trains one task at a time (1).
  int train_threads = 1;
  // This device's CURVE keys and the pinned coordinator key; null: plain TCP
  // (--insecure).
  std::shared_ptr<const protocol::CurveClientKeys> curve;
  // Checks each task's model signature before training; null accepts
  // unsigned (and unchecked) models (--insecure without --coordinator_pub).
  std::shared_ptr<const protocol::ModelVerifier> model_verifier;
  // For a device main loop (the SDK's run-once): Run returns OK once this
  // many tasks have ended here (update sent, round left or task refused) and
  // no secure-aggregation round still needs this host; frames still queued
  // then get up to `heartbeat_interval` to leave. 0: serve until shut down.
  uint64_t stop_after_tasks = 0;
  // The newest model version the device already holds verified (its model
  // store's); announced in a check-in Hello, and older ones are refused as
  // rollbacks. nullopt: none.
  std::optional<uint64_t> held_model_version;
  // Called on the I/O thread with every model that passed the signature and
  // rollback checks (a task's or a GlobalModel's), before training; e.g. to
  // store it for offline inference. Null: ignored.
  std::function<void(uint64_t version, const protocol::ModelPayload& model,
                     const protocol::ModelSignature& signature)>
      on_model;
};

// DataSource (training_worker.h) produces a logical client's training data.
// Called on the training thread when the client's first task arrives, so
// registration never waits for data.

struct LogicalClientSpec {
  uint64_t client_id = 0;
  uint64_t num_examples = 0;  // announced in Hello; the data must agree
  DataSource data;
  // Wraps the shared trainer for this client's tasks (the simulator's
  // attacks, client/attack.h); null: trains with the shared one.
  TrainerDecorator decorate;
  // Federated evaluation: the client's held-out split, loaded on the first
  // evaluation task (null: the client announces no evaluation capability).
  DataSource eval_data;
  uint64_t eval_examples = 0;
  // The client's strategy state (SCAFFOLD's c_i, FedBN's layers), owned by
  // the caller, who may read it once Run returned (the device SDK saves it);
  // null: kept in memory for the life of the host.
  LocalState* local_state = nullptr;
  // Simulations only (fedge-sim --device_profile; client/device_profile.h):
  // how much slower than this machine the device is and how often it takes
  // a task. The default is this machine, always available.
  DeviceProfile profile;
};

// TrainerFactory (training_worker.h) builds the Trainer. Called once, on the
// training thread, as Run starts: a LibTorch trainer takes ~1 s to load, and
// clients register meanwhile.

struct ClientHostStats {
  uint64_t tasks_received = 0;
  uint64_t updates_sent = 0;
  uint64_t training_failures = 0;
  uint64_t reconnects = 0;
  uint64_t hello_resends = 0;  // Hellos sent again on the same connection
  uint64_t errors_received = 0;
  uint64_t bad_frames = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t tasks_refused = 0;      // bad signature or rollback: not trained
  uint64_t handshake_failures = 0;
  uint64_t models_received = 0;    // GlobalModels that passed the checks
  uint64_t models_refused = 0;     // GlobalModels refused (bad signature, rollback)
  uint64_t evaluations_sent = 0;   // federated evaluation results
  // Device profiles (simulations): tasks a client left unanswered, being
  // offline for them; updates held back to a slower device's pace.
  uint64_t tasks_skipped_offline = 0;
  uint64_t updates_held = 0;
  // Updates the coordinator refused: an ErrorReply naming the round of an
  // update this host had sent on that connection (WRONG_ROUND, NOT_REGISTERED,
  // a bad length...). The coordinator refuses an update as it receives it,
  // before anything slow; an update it accepts gets no answer of its own
  // (a check-in device then gets a RetryLater, possibly after the round's
  // aggregation and evaluation).
  uint64_t updates_refused = 0;
  // Tasks that named their model by reference (shared connection), filled in
  // from the model the connection last carried; and those that could not be
  // (no such model received: refused untrained).
  uint64_t tasks_by_reference = 0;
  uint64_t tasks_unresolved = 0;
  // The coordinator's last RetryLater (check-in mode): when to come back.
  std::optional<protocol::RetryLater> retry_later;
};

class ClientHost {
 public:
  // `clock` must outlive the host; it drives heartbeats, backoff and timeouts.
  ClientHost(ClientHostOptions options, TrainerFactory trainer_factory,
             std::vector<LogicalClientSpec> clients, Clock* clock = Clock::Real());
  ~ClientHost();
  ClientHost(const ClientHost&) = delete;
  ClientHost& operator=(const ClientHost&) = delete;

  // Serves until every logical client has been told to shut down (OK), Stop()
  // is called (Cancelled), the coordinator stays silent past give_up_after
  // (Unavailable) or the trainer cannot be built (its error). Call once.
  absl::Status Run();

  // Thread-safe; makes Run return promptly.
  void Stop();

  // Valid after Run returns.
  const ClientHostStats& stats() const { return stats_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  ClientHostStats stats_;
};

// ClientHostOptions::train_threads as the flag of fedge-client and fedge-sim
// gives it: InvalidArgument naming --train_threads outside [1, 256].
absl::Status CheckTrainThreadsFlag(int threads);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_CLIENT_HOST_H_
