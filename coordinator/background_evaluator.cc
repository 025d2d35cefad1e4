#include "coordinator/background_evaluator.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace fedge::coordinator {

absl::StatusOr<std::unique_ptr<BackgroundEvaluator>> BackgroundEvaluator::Create(
    EvaluateFn evaluate) {
  absl::StatusOr<WakeFd> wake = WakeFd::Create("server-side evaluation");
  if (!wake.ok()) return wake.status();
  return std::unique_ptr<BackgroundEvaluator>(
      new BackgroundEvaluator(std::move(evaluate), *std::move(wake)));
}

BackgroundEvaluator::BackgroundEvaluator(EvaluateFn evaluate, WakeFd wake)
    : evaluate_(std::move(evaluate)), wake_(std::move(wake)), worker_([this] { Work(); }) {}

BackgroundEvaluator::~BackgroundEvaluator() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  worker_.join();
}

void BackgroundEvaluator::Start(uint64_t round,
                                std::shared_ptr<const std::vector<float>> weights) {
  absl::MutexLock lock(&mu_);
  if (job_.has_value()) {
    // The coordinator waits for each result; a second request replaces a
    // first that has not begun, whose result nobody would take.
    FEDGE_LOG(kWarning, "evaluation of round %d replaced by round %d before it began",
              job_->round, round);
  }
  job_ = Job{round, std::move(weights)};
}

std::optional<BackgroundEvaluator::Result> BackgroundEvaluator::TakeResult() {
  wake_.Drain();
  absl::MutexLock lock(&mu_);
  std::optional<Result> r = std::move(result_);
  result_.reset();
  return r;
}

void BackgroundEvaluator::Work() {
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackgroundEvaluator* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stop_ || self->job_.has_value();
          },
          this));
      if (stop_) return;
      job = *std::move(job_);
      job_.reset();
    }
    absl::StatusOr<EvalMetrics> metrics = evaluate_(*job.weights);
    {
      absl::MutexLock lock(&mu_);
      result_ = Result{job.round, std::move(metrics)};
    }
    if (!wake_.Signal()) {
      FEDGE_LOG(kError, "server-side evaluation: cannot wake the event loop: %s",
                std::strerror(errno));
    }
  }
}

}  // namespace fedge::coordinator
