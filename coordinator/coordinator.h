#ifndef FEDGE_COORDINATOR_COORDINATOR_H_
#define FEDGE_COORDINATOR_COORDINATOR_H_

// The coordinator's logic, sans I/O: frames in (OnFrame), frames out (Outbox),
// time in (OnTick, with the time passed by the caller). CoordinatorServer
// drives it over a ZeroMQ ROUTER; tests drive it directly.
//
// Round state machine (Phase):
//   kWaitingForClients --enough live clients--> kTraining
//   kTraining --all cohort members reported, or the round's target number of
//               updates arrived (over-selection), or the deadline passed with a
//               quorum--> aggregate, checkpoint, next round (kTraining or
//               kWaitingForClients)
//   kTraining --deadline passed without a quorum, or the cohort dropped below
//               it--> round failed; next round with the model unchanged
//   after `rounds` completed rounds --> kFinished (Shutdown sent to everyone)
// Asynchronous mode (config.async, coordinator/async_round.h): there is no
// round barrier. kTraining lasts from the first task to the last version:
// the coordinator keeps `concurrency` clients training, folds each update
// into the open buffer (an AsyncRound) with its staleness discount, and when
// the buffer is full steps the model, checkpoints the new version and opens
// the next buffer; the tasks in flight carry on. The Evaluator runs beside
// training, not between versions: a version's report is published when its
// evaluation returns, or without one when the evaluator moved on to a newer
// version first. After the last version the coordinator waits in
// kServerEvaluating for its evaluation, then finishes.
// Relay mode (config.relay, a gateway's coordinator: fedge-gateway): to its
// devices it is a coordinator like any other, but its rounds are the root's.
// StartRelayRound hands it the root's task (model, version, signature, client
// settings); it runs one round over its devices with that task, unchanged, so
// devices verify the root's signature; the combined update and the devices'
// example count go to the RelaySink instead of a server optimiser. It makes
// no model versions of its own and signs nothing.
// Check-in devices (Hello with kCapCheckIn, the SDK's run-once) do one task
// per connection: one that is not selected, whose update arrived, or whose
// round ended gets the newest model if it holds an older one (GlobalModel)
// and a RetryLater saying when to come back (retry_advisor.h); a Leave drops
// any client at once instead of waiting for its heartbeats to lapse.
// What a round accepts and when it closes is its Round's (round.h): a
// PlainRound folds Updates into the strategy's aggregation rule (strategy.h),
// a SecureRound runs SecAgg phases with their own deadlines. The coordinator
// selects the cohort, binds messages to it and turns the combined update into
// the next model with the strategy's ServerOptimizer.
// kWaitingForClients has no deadline: nothing is in flight, and it waits for
// --min_clients live clients for as long as that takes. kTraining always has
// one (round_timeout; each SecAgg phase its own).
//
// Durability: with a CheckpointSink every round's end is checkpointed before
// its report is published and before the next round's tasks go out
// (coordinator_snapshot.h); Restore resumes from a snapshot.
//
// One handler per message kind. Refused messages get an ErrorReply with a
// specific ErrorCode, are counted and logged, and never touch the aggregate.
// Not thread-safe: one thread drives it.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "aggregation/aggregator.h"
#include "coordinator/async_round.h"
#include "coordinator/client_registry.h"
#include "coordinator/coordinator_snapshot.h"
#include "coordinator/dp_mechanism.h"
#include "coordinator/frame_rate_limiter.h"
#include "coordinator/retry_advisor.h"
#include "coordinator/round_report.h"
#include "coordinator/federated_evaluation.h"
#include "coordinator/round.h"
#include "coordinator/secure_round.h"
#include "compression/pruning.h"
#include "coordinator/strategy.h"
#include "protocol/codec.h"
#include "protocol/messages.h"
#include "protocol/model_signature.h"

namespace fedge::coordinator {

// Which client ids an authenticated identity may register as: the allow-list
// (secure/allow_list.h), behind a seam so tests can fake it. Implementations
// shared with other threads must be thread-safe.
class Enrolment {
 public:
  virtual ~Enrolment() = default;
  // OK, or PermissionDenied saying why `identity` may not act as `client_id`.
  virtual absl::Status Check(absl::string_view identity, uint64_t client_id) const = 0;
};

// Who sent a frame, as the transport established it.
struct Sender {
  std::string peer;  // the ZeroMQ routing id
  // The authenticated identity (the ZAP User-Id: the client's CURVE public key
  // in hex); empty on an unauthenticated (--insecure) transport.
  std::string identity;
};

class RelaySink;  // below

struct CoordinatorConfig {
  uint64_t rounds = 10;              // completed rounds before shutting down
  uint32_t clients_per_round = 0;    // cohort size; 0 = use `fraction`
  double fraction = 1.0;             // of live clients, when clients_per_round is 0
  uint32_t min_clients = 1;          // live clients needed to start a round
  uint32_t quorum = 1;               // updates needed to close a round at its deadline
  // Over-selection (plain FedAvg only): select this fraction more clients than
  // the round needs and close it as soon as the needed number of updates
  // arrived; later updates are refused as WRONG_ROUND. Secure rounds tolerate
  // dropouts through their Shamir threshold instead (Create refuses both).
  double over_select = 0;
  absl::Duration round_timeout = absl::Minutes(5);
  // Federated evaluation (coordinator/federated_evaluation.h): after each
  // completed round, this share of the clients holding a held-out split
  // (at least one when any does) evaluate the new model; the round ends
  // when all reported or after evaluate_timeout. 0: off. Not with `secure`
  // (each client's metrics would be seen alone).
  double fraction_evaluate = 0;
  absl::Duration evaluate_timeout = absl::Minutes(1);
  // Check-in devices told to come back do so at a random point of this
  // window after the time the coordinator names.
  absl::Duration retry_window = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(1);
  uint32_t missed_heartbeats = 10;   // silent this many intervals: dropped
  uint32_t max_failed_rounds = 10;   // consecutive failures before giving up
  // The federated strategy (coordinator/strategy.h): aggregation rule, server
  // optimiser and their hyper-parameters.
  StrategyOptions strategy;
  // Differential privacy (coordinator/dp_mechanism.h); off by default.
  PrivacyOptions privacy;
  // Magnitude pruning of the global model (compression/pruning.h); off when
  // final_sparsity is 0.
  compression::PruneSchedule prune;
  protocol::TrainingConfig training;
  // When enabled, rounds aggregate with SecAgg/SecAgg+: the coordinator only
  // ever sees the sum of the survivors' updates.
  SecureAggregationSettings secure;
  uint64_t seed = 0;
  protocol::DecodeLimits limits;
  // Signs every model version once; its tasks carry the signature. Null sends
  // unsigned tasks (--insecure without a key file).
  std::shared_ptr<const protocol::ModelSigner> model_signer;
  // When set, a Hello is accepted only for a client id enrolled for the
  // sender's identity (else NOT_ENROLLED), and a registered client's updates
  // and heartbeats must come from the identity it registered with and still
  // be enrolled. Null (--insecure): identities are not checked.
  std::shared_ptr<const Enrolment> enrolment;
  // Frames handled per second from each registered peer, and from all
  // unregistered peers together (their Hellos); the excess is refused as
  // RATE_LIMITED before decoding. Disabled (0) by default here; the binary
  // enables it.
  FrameRateLimit client_frame_limit;
  FrameRateLimit unregistered_frame_limit;
  // Gets a snapshot at the end of every round; null: no checkpoints. Not
  // owned; must outlive the coordinator.
  CheckpointSink* checkpoint_sink = nullptr;
  // Asynchronous buffered aggregation (FedBuff); off by default.
  AsyncOptions async;
  // A gateway's coordinator (see "Relay mode" above); null: a root. Not
  // owned; must outlive the coordinator.
  RelaySink* relay = nullptr;
};

// OK, or InvalidArgument naming the setting that is out of range or
// inconsistent with another (Coordinator::Create calls it).
absl::Status ValidateCoordinatorConfig(const CoordinatorConfig& config);

// Where frames go. `frame` is shared so one encoded Task can be sent to many
// clients without copies. Returns non-OK when the peer cannot be reached.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual absl::Status Send(const std::string& peer,
                            std::shared_ptr<const std::string> frame) = 0;
};

// Optional server-side evaluation of the global model: an effect, like
// Outbox. When a round completes the coordinator calls Start and goes on
// serving (heartbeats, registrations, late messages) without starting the
// next round; whoever runs the evaluation hands the result back through
// Coordinator::OnServerEvaluation. A cnn evaluated on 10,000 test images
// takes seconds; done on the event loop it kept heartbeats unanswered past
// the clients' coordinator timeout under load (coordinator/
// background_evaluator.h runs it on a thread).
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // `weights`: the global model after `round`. Must not call back into the
  // coordinator.
  virtual void Start(uint64_t round, std::shared_ptr<const std::vector<float>> weights) = 0;
};

// What a gateway's round yields for the root: its devices' example-weighted
// mean update and their example count (the weight the root gives it).
struct RelayResult {
  std::vector<float> delta;
  uint64_t num_examples = 0;
  uint32_t devices = 0;    // updates combined
  double train_loss = 0;   // example-weighted; NaN when none reported one
};

// Receives each relay round's outcome (config.relay).
class RelaySink {
 public:
  virtual ~RelaySink() = default;
  // `round`: the root's round id. An error says why the round failed.
  virtual void OnRelayDone(uint64_t round, absl::StatusOr<RelayResult> result) = 0;
};

// Receives a report after each round (completed or failed).
class RoundObserver {
 public:
  virtual ~RoundObserver() = default;
  virtual void OnRoundEnd(const RoundReport& report) = 0;
};

class Coordinator {
 public:
  // kServerEvaluating: the round completed and its model is being evaluated
  // by the Evaluator; kEvaluating: then by clients (fraction_evaluate). The
  // round ends, and the next starts, after both.
  enum class Phase { kWaitingForClients, kTraining, kServerEvaluating, kEvaluating, kFinished };

  // InvalidArgument when the config is inconsistent or the model malformed.
  // `outbox` must outlive the coordinator; `evaluator` and `observer` may be null.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(
      CoordinatorConfig config, protocol::ModelPayload initial_model, Outbox* outbox,
      Evaluator* evaluator, RoundObserver* observer, absl::Time now);

  // One frame from `from`. Never fails: bad frames are answered and counted.
  void OnFrame(const Sender& from, absl::string_view frame, absl::Time now);
  // The same from an unauthenticated peer (tests; --insecure). With
  // `enrolment` configured such a peer cannot register.
  void OnFrame(const std::string& peer, absl::string_view frame, absl::Time now) {
    OnFrame(Sender{peer, std::string()}, frame, now);
  }

  // Resumes from `snapshot` (a checkpoint): model, version, counters, cohort
  // generator. Call right after Create, before any frame or tick
  // (FailedPrecondition otherwise). InvalidArgument when the snapshot's model
  // is malformed or of another architecture than the configured one. A
  // snapshot that already completed `rounds` finishes at once.
  absl::Status Restore(CoordinatorSnapshot snapshot);
  // The state a restart needs; meaningful between rounds (as CheckpointSink
  // gets it). Copies the model.
  CoordinatorSnapshot Snapshot() const;

  // Advances timers: liveness, round deadlines, starting rounds.
  void OnTick(absl::Time now);

  // The Evaluator's result for `round` (its metrics, or why it failed: the
  // round still completes, without them). Ignored unless the coordinator is
  // waiting for exactly that round's evaluation.
  void OnServerEvaluation(uint64_t round, absl::StatusOr<EvalMetrics> result, absl::Time now);

  // Relay mode: runs the root's `task` over this gateway's devices (its
  // model, version, signature and settings unchanged). A round still open
  // is failed first (the root moved on). InvalidArgument for a task this
  // gateway cannot relay (a malformed model, SCAFFOLD control variates, a
  // root secure round, an evaluation); FailedPrecondition outside relay
  // mode or once finished. The outcome goes to the RelaySink. A relay
  // coordinator may be created with an empty model: it takes the root's.
  absl::Status StartRelayRound(protocol::Task task, absl::Time now);
  // Relay mode: the root ended the run (`reason`): any open round fails and
  // the devices are told to shut down.
  void EndRelay(const std::string& reason, absl::Time now);

  // When OnTick next needs to run (a deadline), at most one heartbeat away.
  absl::Time NextDeadline(absl::Time now) const;

  Phase phase() const { return phase_; }
  // The open round (kTraining) or the last one; 0 before the first.
  uint64_t round() const { return round_; }
  // Inputs the open round has accepted so far: plain updates, or masked
  // inputs in a secure round (0 between rounds).
  size_t inputs_accepted() const { return open_round_ ? open_round_->inputs_accepted() : 0; }
  uint64_t completed_rounds() const { return completed_rounds_; }
  uint64_t model_version() const { return model_version_; }
  const std::vector<float>& weights() const { return model_.weights; }
  // The current global model (with its architecture and any prune mask) and
  // its signature at model_version() (empty without a signer), as devices
  // would receive it: for fedge-coordinator --model_out.
  absl::StatusOr<std::pair<protocol::ModelPayload, protocol::ModelSignature>> SignedModel();
  const CoordinatorStats& stats() const { return stats_; }
  size_t registered_clients() const { return registry_.size(); }
  // True once finished, when max_failed_rounds consecutive rounds failed, or
  // when a checkpoint could not be saved (halted()).
  bool done() const { return phase_ == Phase::kFinished; }
  // Stopped because the CheckpointSink failed; clients were not told to shut
  // down, so a restarted coordinator picks them up again.
  bool halted() const { return halted_; }
  const std::string& finish_reason() const { return finish_reason_; }
  // Finished because one more round would exceed --dp_target_epsilon: a
  // normal end, with fewer rounds than configured.
  bool privacy_budget_spent() const { return privacy_budget_spent_; }

  // ---- Operator control (fedge-ctl through ops/, not checkpointed) ----
  // Paused: no round starts; an open round runs to its end (with its
  // evaluations) first. Clients stay connected and heartbeat.
  void SetPaused(bool paused, absl::Time now);
  bool paused() const { return paused_; }
  // Ends the run cleanly: at once between rounds, else when the open round
  // ends (its model kept and checkpointed); clients are told to shut down.
  void RequestStop(absl::Time now);
  bool stop_requested() const { return stop_requested_; }
  // Finished because of RequestStop: a normal end.
  bool stopped_by_operator() const { return stopped_by_operator_; }
  // The open round's start, deadline (a secure round's current phase's) and
  // cohort; meaningful in kTraining.
  absl::Time round_start() const { return round_start_; }
  absl::Time round_deadline() const;
  // In async mode: the updates the open buffer needs.
  size_t cohort_size() const { return async() ? config_.async.buffer : cohort_.size(); }
  // Async mode: tasks out now.
  size_t tasks_in_flight() const { return async_tasks_.size(); }
  const ClientRegistry& registry() const { return registry_; }

 private:
  Coordinator(CoordinatorConfig config, protocol::ModelPayload model, Outbox* outbox,
              Evaluator* evaluator, RoundObserver* observer, std::unique_ptr<Strategy> strategy,
              std::unique_ptr<aggregation::ServerOptimizer> optimizer,
              std::unique_ptr<DpMechanism> dp);

  void Handle(const std::string& peer, protocol::Hello& m, absl::Time now);
  void Handle(const std::string& peer, protocol::Update& m, absl::Time now);
  void Handle(const std::string& peer, protocol::Heartbeat& m, absl::Time now);
  void Handle(const std::string& peer, protocol::ErrorReply& m, absl::Time now);
  void Handle(const std::string& peer, protocol::Welcome&, absl::Time now);
  void Handle(const std::string& peer, protocol::Task&, absl::Time now);
  void Handle(const std::string& peer, protocol::Shutdown&, absl::Time now);
  void Handle(const std::string& peer, protocol::SecAggToServer& m, absl::Time now);
  void Handle(const std::string& peer, protocol::SecAggToClient&, absl::Time now);
  void Handle(const std::string& peer, protocol::Leave& m, absl::Time now);
  void Handle(const std::string& peer, protocol::RetryLater&, absl::Time now);
  void Handle(const std::string& peer, protocol::GlobalModel&, absl::Time now);
  void Handle(const std::string& peer, protocol::PredictRequest&, absl::Time now);
  void Handle(const std::string& peer, protocol::PredictReply&, absl::Time now);

  // ---- Check-in devices (check_in.cc) ----
  // Sends `client` the newest model if it holds an older one, then when to
  // come back.
  void SendRetryLater(ClientRecord& client, const std::string& reason);
  // Marks the check-in members of the round that just ended done and returns
  // them, to be told when to come back once the next round has started.
  std::vector<std::string> TakeCheckInCohort();
  void TellToRetry(const std::vector<std::string>& peers, const std::string& reason);
  // Sends the current model (GlobalModel) to a device holding an older one
  // (or none); true if sent.
  bool SendModelIfNewer(const std::string& peer, bool has_model, uint64_t version,
                        bool architecture_cached);
  // The encoded GlobalModel of model_ at model_version_, with or without the
  // architecture bytes; null if the model cannot be signed.
  std::shared_ptr<const std::string> GlobalModelFrame(bool with_architecture);
  // Registered clients that may be selected, in client id order.
  std::vector<std::string> SelectablePeers() const;

  // Checks that a round message is bound to this connection's client, the
  // open round, its model version and its cohort.
  // With enrolment: checks that the frame being handled comes from the
  // identity `client` registered with and that it is still enrolled.
  std::optional<std::pair<protocol::ErrorCode, std::string>> CheckIdentity(
      const ClientRecord& client) const;
  // Signs model_ at model_version_ unless already done.
  absl::Status SignModelVersion();

  // CheckIdentity, and that a message naming `client_id` comes from that
  // client's connection.
  std::optional<std::pair<protocol::ErrorCode, std::string>> CheckSender(
      const ClientRecord& client, uint64_t client_id) const;
  std::optional<std::pair<protocol::ErrorCode, std::string>> CheckRoundBinding(
      const ClientRecord& client, uint64_t client_id, uint64_t round,
      uint64_t model_version) const;

  void Refuse(const std::string& peer, protocol::ErrorCode code, uint64_t round,
              const std::string& why);
  void SendWelcome(const std::string& peer, uint64_t client_id);
  void SendTo(const std::string& peer, std::shared_ptr<const std::string> frame);
  void MaybeStartRound(absl::Time now);
  void DropFromRound(const std::string& peer, const char* why);
  // Lets the open round close what is due; completes or fails it when over.
  void MaybeCloseRound(absl::Time now);
  // The open round of `peers` (plain or secure, as configured).
  absl::StatusOr<std::unique_ptr<Round>> StartRound(const std::vector<std::string>& peers,
                                                    size_t target, absl::Time now);
  // Weights a round's updates carry: the kept ones of a pruned model.
  size_t KeptWeights() const;
  // --prune: keeps pruned weights at 0 after the optimiser step and prunes
  // the model to the next round's sparsity (report_.sparsity).
  absl::Status PruneForNextRound();
  absl::Status ComputeMeanDelta();
  // SCAFFOLD: folds the completed round's control-variate changes into control_.
  absl::Status UpdateControlVariate();
  void CompleteRound(absl::Time now);
  // After the server's evaluation (if any): the clients' evaluation or the end.
  void AfterServerEvaluation(absl::Time now);
  // Why the run ends after the round that just completed, if it does.
  std::optional<std::string> CompletionFinishReason() const;
  // ---- Federated evaluation (rounds.cc) ----
  // Asks fraction_evaluate of the evaluating clients to evaluate model_;
  // false when none can (the round then ends at once).
  bool StartEvaluation(absl::Time now);
  void HandleEvaluation(const std::string& peer, ClientRecord& client, protocol::Update& m,
                        absl::Time now);
  // Ends the round once every asked client reported or dropped, or at the
  // evaluation's deadline.
  void MaybeFinishEvaluation(absl::Time now);
  // Sends `task` to `peers`: the encoding without the architecture to those
  // that cached it, the one with it to the others (at most two encodings).
  void SendTasks(protocol::Task& task, const std::vector<std::string>& peers);
  void FailRound(absl::Time now, const std::string& why);
  // The combined update of the completed round applied to model_ (control
  // variates, DP, the server optimiser, pruning).
  absl::Status StepModel();

  // ---- Asynchronous mode (async_mode.cc) ----
  bool async() const { return config_.async.enabled; }
  // From kWaitingForClients: opens the first buffer once enough clients are
  // live; in kTraining: gives free task slots to idle clients.
  void MaybeStartAsync(absl::Time now);
  // A new buffer for the next version; tasks in flight carry on.
  void OpenAsyncRound(absl::Time now);
  // Gives free task slots (up to the concurrency) to idle clients.
  void Dispatch(absl::Time now);
  // `want` idle selectable peers drawn uniformly, when few of the registered
  // ones are wanted; empty when they should be listed instead.
  std::vector<std::string> SampleIdlePeers(size_t want);
  void HandleAsyncUpdate(const std::string& peer, ClientRecord& client, protocol::Update& m,
                         absl::Time now);
  // The version just made: checkpoint, evaluate beside training, then the
  // next buffer or the end.
  void PublishAsync(absl::Time now);
  // The evaluator's result for async version `round`: attaches it and
  // publishes the reports it settles.
  void OnAsyncEvaluation(uint64_t round, absl::StatusOr<EvalMetrics> result);
  // Publishes every held report (without evaluation) and finishes.
  void FinishAsync(const std::string& reason);

  // ---- Relay mode (relay_mode.cc) ----
  bool relay() const { return config_.relay != nullptr; }
  // The completed relay round's combined update to the sink.
  void CompleteRelayRound(absl::Time now);
  // Tells the sink that the relay round failed (or never started).
  void FailRelay(const std::string& why);
  // The end of every round, completed or failed: checkpoint, report, then
  // finish (with `finish_reason`) or start the next round, and tell the
  // round's check-in devices when to come back.
  void EndRound(absl::Time now, const char* outcome, std::optional<std::string> finish_reason);
  void Finish(const std::string& reason);
  // Saves a snapshot through the sink; false (and halted) if that failed.
  bool SaveCheckpoint();
  // How many clients round `round_` needs, and how many to select for it,
  // out of `live` registered clients.
  size_t RoundTarget(size_t live) const;
  size_t CohortSize(size_t target, size_t live) const;

  const CoordinatorConfig config_;
  protocol::ModelPayload model_;  // the global model; weights updated in place
  Outbox* const outbox_;
  Evaluator* const evaluator_;
  RoundObserver* const observer_;
  const std::unique_ptr<Strategy> strategy_;
  std::unique_ptr<aggregation::Aggregator> aggregator_;  // the strategy's rule
  std::unique_ptr<aggregation::ServerOptimizer> optimizer_;
  // Differential privacy; null when off.
  const std::unique_ptr<DpMechanism> dp_;
  // SCAFFOLD only (else empty/null): the server control variate c, one value
  // per weight, and the mean of the clients' changes to theirs.
  std::vector<float> control_;
  std::unique_ptr<aggregation::Aggregator> control_aggregator_;
  std::vector<float> mean_control_delta_;
  // The manifest's kParameter ranges: what norm bounding measures.
  const std::vector<std::pair<uint64_t, uint64_t>> parameter_ranges_;
  // What --prune may zero (protocol::PrunableRanges).
  const std::vector<std::pair<uint64_t, uint64_t>> prunable_ranges_;
  std::mt19937_64 rng_;
  ClientRegistry registry_;
  CoordinatorStats stats_;

  Phase phase_ = Phase::kWaitingForClients;
  std::string finish_reason_;
  uint64_t round_ = 0;  // id of the current or last round; rounds start at 1
  uint64_t completed_rounds_ = 0;
  uint32_t consecutive_failures_ = 0;
  uint64_t model_version_ = 0;
  bool halted_ = false;
  bool privacy_budget_spent_ = false;
  bool paused_ = false;
  bool stop_requested_ = false;
  bool stopped_by_operator_ = false;
  FrameRateLimiter client_rate_limiter_;        // one bucket per registered peer
  FrameRateLimiter unregistered_rate_limiter_;  // one bucket for all others

  // Current round, valid in kTraining.
  absl::Time round_start_;
  absl::Time round_deadline_;       // the whole round's (a secure round's phases have their own)
  std::set<std::string> pending_;   // selected, not yet reported or dropped
  std::set<std::string> reported_;  // plain updates accepted
  std::vector<std::string> cohort_;  // everyone selected for the round
  RoundReport report_;              // filled as the round goes
  std::vector<float> mean_delta_;   // reused between rounds
  std::vector<float> kept_delta_;   // a pruned model's round: the kept coordinates' mean
  std::unique_ptr<Round> open_round_;  // its aggregation (round.h)
  std::unique_ptr<FederatedEvaluation> evaluation_;  // valid in kEvaluating
  // When the first task went out (elapsed_seconds in reports), and the time
  // spent waiting for server-side evaluations since (eval_wait_seconds).
  std::optional<absl::Time> training_start_;
  absl::Duration eval_wait_;
  absl::Time eval_started_;

  // Async mode: the tasks in flight (pending_ holds the same peers), the
  // task batches sent for the open buffer (their training seeds differ),
  // published versions' reports waiting for their evaluation (oldest
  // first), and why the run ends once the last one is evaluated.
  AsyncTasks async_tasks_;
  uint64_t async_batches_ = 0;
  std::deque<RoundReport> unreported_;
  std::string async_finish_reason_;

  // Relay mode: the root's task waiting to run or running (its model moved
  // into model_), and when it must have started.
  std::optional<protocol::Task> relay_task_;
  absl::Time relay_deadline_ = absl::InfiniteFuture();

  protocol::Message scratch_;       // decode target reusing the update buffer

  // Shared connections (by routing id) and the model version last sent on
  // each in full: later tasks of that version name it by reference. Forgotten
  // when a client of the connection registers (the process may have
  // restarted) or reports an error.
  std::map<std::string, uint64_t> connection_model_;
  void ForgetConnectionModel(const std::string& peer);

  RetryAdvisor retry_advisor_;
  // GlobalModel frames for model_version_ (with / without architecture).
  std::shared_ptr<const std::string> global_model_frames_[2];
  std::optional<uint64_t> global_model_frames_version_;

  // Refusals are logged at most kRefusalLogsPerSecond a second so a flood
  // cannot flood the log too; the rest are counted and summarised.
  static constexpr int kRefusalLogsPerSecond = 20;
  absl::Time now_;                  // time of the frame or tick being handled
  std::string sender_identity_;     // identity of the frame being handled

  // The signature of model_ at signed_version_ (config_.model_signer).
  protocol::ModelSignature model_signature_;
  std::optional<uint64_t> signed_version_;
  absl::Time refusal_log_window_;
  int refusal_logs_in_window_ = 0;
  uint64_t refusal_logs_suppressed_ = 0;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_COORDINATOR_H_
