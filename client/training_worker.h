#ifndef FEDGE_CLIENT_TRAINING_WORKER_H_
#define FEDGE_CLIENT_TRAINING_WORKER_H_

// The client host's training threads: a queue of tasks from every logical
// client of the process, taken by one or more threads (`threads`), each
// with a Trainer of its own, returning a queue of results. Threads pull
// tasks as they finish, so a process with N threads keeps N cores busy to
// the end of a round, where N processes of one thread each wait for the
// slowest (docs/scale.md). A logical client's tasks run one at a time and
// in order, whichever thread takes them; its data (loaded on its first
// task, so registration never waits for it), strategy state and residual
// are touched only by the thread running its task.
//
// A job is abandoned at its trainer's next batch when the I/O thread stops
// wanting its round for that client (Want/Abandon): the coordinator moved on,
// or the client re-registered. No torch and no sockets here.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "data/dataset.h"
#include "client/local_state_store.h"
#include "client/trainer.h"
#include "protocol/messages.h"

namespace fedge::client {

// Produces a logical client's training data (see ClientHost).
using DataSource = std::function<absl::StatusOr<Dataset>()>;
// Builds the Trainer, on the training thread, as the worker starts.
using TrainerFactory = std::function<absl::StatusOr<std::unique_ptr<Trainer>>()>;
// Wraps the shared Trainer for one logical client's tasks only (e.g. the
// simulator's attacks, client/attack.h). Called once, on the training thread,
// right after the factory; the result does not own `shared`, which outlives it.
using TrainerDecorator = std::function<std::unique_ptr<Trainer>(Trainer* shared)>;

struct TrainingResult {
  size_t client = 0;  // index of the logical client
  uint64_t round = 0;
  uint64_t model_version = 0;
  bool evaluation = false;  // the task was evaluate_only
  absl::Status status;
  // How long the job ran (not how long it waited in the queue).
  absl::Duration busy;
  // A training task's outcome; for an evaluation (task.config.evaluate_only)
  // only num_examples and metrics, delta empty.
  TrainOutcome outcome;
};

class TrainingWorker {
 public:
  struct ClientData {
    DataSource source;
    uint64_t num_examples = 0;  // what the client announced; the data must agree
    TrainerDecorator decorate;  // null: the client trains with the shared trainer
    // Federated evaluation: the client's held-out split (null: none).
    DataSource eval_source;
    uint64_t eval_examples = 0;
    // The client's strategy state (client/local_state.h), owned by the
    // caller, read and written on the training thread while the worker runs;
    // null: the worker keeps it in memory for its own life.
    LocalState* local_state = nullptr;
    // Mixed into the seed of the update quantisers' random rounding.
    uint64_t client_id = 0;
  };

  // `notify` runs on a training thread after each result and after a fatal
  // error; it must be thread-safe and must not block (it wakes the I/O loop).
  // `threads` (>= 1) training threads each call `factory` once.
  TrainingWorker(TrainerFactory factory, std::vector<ClientData> clients,
                 std::function<void()> notify, Clock* clock = Clock::Real(), int threads = 1);
  ~TrainingWorker();  // stops and joins
  TrainingWorker(const TrainingWorker&) = delete;
  TrainingWorker& operator=(const TrainingWorker&) = delete;

  void Start();
  // Makes running and queued jobs end at their next batch; Stop joins.
  void Stop();

  // Queues `task` for logical client `client` and wants its round. With
  // `model` set, `task.model` must be empty and the task trains `*model`:
  // the tasks of one round queued on a shared connection then hold one
  // copy of the model between them, not one each.
  void Submit(size_t client, protocol::Task task,
              std::shared_ptr<const protocol::ModelPayload> model = nullptr);
  // The round `client` should be training for; anything else is abandoned.
  void Want(size_t client, uint64_t round) { wanted_round_[client].store(round); }
  void Abandon(size_t client) { wanted_round_[client].store(0); }

  // Results since the last call, oldest first.
  std::deque<TrainingResult> TakeResults();
  // Non-OK once the trainer could not be built (the worker has stopped).
  absl::Status fatal() const;
  // Architectures the trainer holds, so a Hello can say so.
  std::vector<std::string> CachedArchitectures() const;

 private:
  struct Job {
    size_t client = 0;
    protocol::Task task;
    std::shared_ptr<const protocol::ModelPayload> model;  // null: task.model
  };
  struct Slot {
    ClientData spec;
    // The fields below belong to the thread running this client's task
    // (busy, under mu_, says one is).
    std::optional<Dataset> data;
    std::optional<Dataset> eval_data;
    // This client's strategy state (SCAFFOLD's c_i, FedBN's layers;
    // client/local_state.h) around the lanes' trainer, and spec.decorate's
    // trainer around that (null without a decorator).
    std::unique_ptr<Trainer> local;
    std::unique_ptr<Trainer> trainer;
    // Top-k compression's error-feedback residual, what this client has not
    // uploaded yet (compression/compression.h). In memory: a device process
    // that restarts starts from zero.
    std::vector<float> residual;
  };
  // One training thread and what only it touches.
  struct Lane {
    std::unique_ptr<Trainer> trainer;
    // The shared model last attached, and its copy (moved into a job's task
    // while it runs).
    std::shared_ptr<const protocol::ModelPayload> attached_from;
    protocol::ModelPayload attached;
    std::unique_ptr<privacy::RandomBits> noise_bits;  // DP noise, made on first use
    std::thread thread;
  };

  void Loop(size_t lane);
  // Builds the lane's trainer; the first lane to finish also wraps every
  // slot's trainer (they all hold the one that forwards to the calling
  // lane's). False when the factory failed (fatal_ is set).
  bool BuildLane(size_t lane);
  // The first queued job whose client is not running one, or jobs_.end().
  std::deque<Job>::iterator NextRunnable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CanRunOrExit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return exit_ || (wrapped_ && NextRunnable() != jobs_.end());
  }
  absl::Status EnsureData(Slot& slot);
  absl::Status EnsureEvalData(Slot& slot);
  // Runs `job` for `slot` on `lane`: trains, or evaluates when the task says so.
  absl::Status RunJob(Lane& lane, Slot& slot, const Job& job, TrainOutcome* outcome);
  // Puts a shared model into job->task.model (copying it only when it is
  // not the one the lane's last job trained) and takes it back after the
  // job, so the tasks of a round on a shared connection cost one copy per lane.
  static void AttachModel(Lane& lane, Job* job);
  static void DetachModel(Lane& lane, Job* job);
  // Compresses outcome->delta into outcome->packed as the task asks.
  static absl::Status Compress(Slot& slot, const protocol::Task& task, TrainOutcome* outcome);

  TrainerFactory factory_;
  std::function<void()> notify_;
  Clock* const clock_;
  std::vector<Slot> slots_;
  std::unique_ptr<std::atomic<uint64_t>[]> wanted_round_;
  std::vector<Lane> lanes_;
  // What the slots' trainers wrap: forwards each call to the calling lane's.
  std::unique_ptr<Trainer> lane_trainer_;
  std::atomic<bool> stopping_{false};

  // Between the I/O thread (Submit, TakeResults, ...) and the training threads.
  mutable absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> busy_ ABSL_GUARDED_BY(mu_);  // per slot: a lane runs its job
  bool wrapped_ ABSL_GUARDED_BY(mu_) = false;    // the slots' trainers exist
  std::deque<TrainingResult> results_ ABSL_GUARDED_BY(mu_);
  // Per lane, the architectures its trainer holds; a Hello may announce
  // only those every lane holds (a task may then omit their bytes).
  std::vector<std::vector<std::string>> lane_cached_ ABSL_GUARDED_BY(mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  bool exit_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_TRAINING_WORKER_H_
