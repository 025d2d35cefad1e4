#ifndef FEDGE_COORDINATOR_ASYNC_ROUND_H_
#define FEDGE_COORDINATOR_ASYNC_ROUND_H_

// Asynchronous buffered aggregation (FedBuff, Nguyen et al., AISTATS 2022),
// fedge-coordinator --mode=async. There is no round barrier: the coordinator
// keeps `concurrency` clients training (AsyncTasks, below), each on the
// newest model when its task left, and folds every update as it arrives into
// a buffer (AsyncRound); once `buffer` updates are in, the buffer's combined
// update becomes the next signed model version, and the buffer starts again.
// Tasks in flight carry on: their updates arrive `staleness` versions late.
//
// Staleness: an update trained on version v that arrives while the model is
// at version V has s = V - v. It is refused (ErrorCode kStale) when
// s > max_staleness, else folded with the weight
//     w(s) = (1 + s)^-a      (a = staleness_exponent; FedBuff's 1/sqrt(1+s)
//                             is a = 0.5, a = 0 weighs all alike)
// times its example count n, and the buffer's update is
//     delta = sum_i n_i w(s_i) delta_i / sum_i n_i,
// FedBuff's (1/K) sum_i w(s_i) delta_i with example weights: the staleness
// discount is not normalised away, so a buffer of stale updates moves the
// model less. The strategy's ServerOptimizer turns it into the next model, as
// in synchronous rounds.
//
// Each buffer is a Round (round.h) whose id the published model's report
// carries; Round ids and model versions both count publications.

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aggregation/aggregator.h"
#include "coordinator/round.h"

namespace fedge::coordinator {

struct AsyncOptions {
  bool enabled = false;          // --mode=async
  // Clients training at once; 0 = the synchronous cohort size
  // (--clients_per_round, else --fraction of the live clients).
  uint32_t concurrency = 0;
  uint32_t buffer = 10;          // updates per published version (K)
  uint32_t max_staleness = 20;   // versions; older updates are refused
  double staleness_exponent = 0.5;
};

// OK, or InvalidArgument naming the flag that is out of range.
absl::Status ValidateAsyncOptions(const AsyncOptions& options);

// w(s) = (1 + s)^-exponent.
double StalenessWeight(uint64_t staleness, double exponent);

// One buffer: the updates that make the next model version.
class AsyncRound final : public Round {
 public:
  struct Settings {
    uint64_t round = 0;           // the id of the version being built
    uint64_t model_version = 0;   // the model's version now (V)
    AsyncOptions options;
    size_t model_size = 0;
    double clip_norm = 0;         // norm bounding, as in PlainRound
    std::vector<std::pair<uint64_t, uint64_t>> parameter_ranges;
  };

  // `aggregator` (the strategy's rule) is Reset here and must outlive the
  // round.
  AsyncRound(Settings settings, aggregation::Aggregator* aggregator);

  void PrepareTask(protocol::Task*) const override {}
  // `update.model_version` must not be newer than the model (the coordinator
  // bound it to the task it sent). Refuses with kStale beyond max_staleness.
  std::optional<Refusal> OnUpdate(const std::string& peer, protocol::Update& update) override;
  std::optional<Refusal> OnSecAgg(const std::string& peer,
                                  secure::SecAggClientMessage&& body) override;
  void Drop(const std::string&) override {}
  // Completes once `buffer` updates are in; never fails and has no deadline
  // (each task has its own, AsyncTasks).
  Frames Advance(absl::Time now, const CohortProgress& cohort) override;
  Outcome outcome() const override { return outcome_; }
  std::string failure() const override { return std::string(); }
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  absl::StatusOr<std::vector<std::string>> Finish(absl::Span<float> delta,
                                                  RoundReport* report) override;
  size_t inputs_accepted() const override { return aggregator_->count(); }

  uint64_t stale_refused() const { return stale_refused_; }

 private:
  const Settings settings_;
  aggregation::Aggregator* const aggregator_;
  double train_loss_sum_ = 0;
  double train_loss_weight_ = 0;
  uint64_t staleness_sum_ = 0;
  uint64_t staleness_max_ = 0;
  uint64_t stale_refused_ = 0;
  Outcome outcome_ = Outcome::kRunning;
};

// The tasks in flight in async mode: who trains, on which model version,
// until when. Sans I/O.
class AsyncTasks {
 public:
  struct Task {
    uint64_t round = 0;          // the Task.round it was sent with
    uint64_t model_version = 0;  // the model it trains on
    absl::Time deadline;
  };

  size_t size() const { return tasks_.size(); }
  const Task* Find(const std::string& peer) const;
  void Start(const std::string& peer, Task task) { tasks_[peer] = task; }
  // False if `peer` had no task.
  bool End(const std::string& peer) { return tasks_.erase(peer) > 0; }

  // Up to `concurrency - size()` of `candidates` (in a stable order) that
  // have no task, chosen uniformly with `rng`.
  std::vector<std::string> Choose(std::vector<std::string> candidates, size_t concurrency,
                                  std::mt19937_64& rng) const;
  // Peers whose task deadline is at or before `now` (their tasks are ended).
  std::vector<std::string> Expire(absl::Time now);
  // The earliest task deadline; InfiniteFuture with none in flight.
  absl::Time NextDeadline() const;

 private:
  std::map<std::string, Task> tasks_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_ASYNC_ROUND_H_
