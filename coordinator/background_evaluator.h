#ifndef FEDGE_COORDINATOR_BACKGROUND_EVALUATOR_H_
#define FEDGE_COORDINATOR_BACKGROUND_EVALUATOR_H_

// Runs the coordinator's server-side evaluation on a thread of its own, so
// the event loop keeps answering heartbeats and registrations while a model
// is evaluated (seconds for a cnn on 10,000 images; under load that once
// outlasted the clients' coordinator timeout, every client reconnected and
// the round failed). The runner polls wake_fd() next to its socket and hands
// each result to Coordinator::OnServerEvaluation.
//
// One evaluation at a time, as the coordinator asks for them (it waits for
// each result before the next round). Start and TakeResult are for the
// serving thread; the evaluation function runs on the worker thread only.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/wake_fd.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

class BackgroundEvaluator final : public Evaluator {
 public:
  using EvaluateFn = std::function<absl::StatusOr<EvalMetrics>(absl::Span<const float>)>;

  struct Result {
    uint64_t round = 0;
    absl::StatusOr<EvalMetrics> metrics;
  };

  // Internal if the wake-up descriptor cannot be created.
  static absl::StatusOr<std::unique_ptr<BackgroundEvaluator>> Create(EvaluateFn evaluate);
  // Waits for an evaluation in progress to end.
  ~BackgroundEvaluator() override;

  void Start(uint64_t round, std::shared_ptr<const std::vector<float>> weights) override;

  // Readable (POLLIN) while a result waits to be taken.
  int wake_fd() const { return wake_.fd(); }
  // The finished evaluation, if any.
  std::optional<Result> TakeResult();

 private:
  BackgroundEvaluator(EvaluateFn evaluate, WakeFd wake);
  void Work();

  const EvaluateFn evaluate_;
  const WakeFd wake_;
  absl::Mutex mu_;
  struct Job {
    uint64_t round;
    std::shared_ptr<const std::vector<float>> weights;
  };
  std::optional<Job> job_ ABSL_GUARDED_BY(mu_);
  std::optional<Result> result_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;  // last: starts once the members above exist
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_BACKGROUND_EVALUATOR_H_
