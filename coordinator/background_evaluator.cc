#include "coordinator/background_evaluator.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace fedge::coordinator {

absl::StatusOr<std::unique_ptr<BackgroundEvaluator>> BackgroundEvaluator::Create(
    EvaluateFn evaluate) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("server-side evaluation: eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<BackgroundEvaluator>(new BackgroundEvaluator(std::move(evaluate), fd));
}

BackgroundEvaluator::BackgroundEvaluator(EvaluateFn evaluate, int wake_fd)
    : evaluate_(std::move(evaluate)), wake_fd_(wake_fd), worker_([this] { Work(); }) {}

BackgroundEvaluator::~BackgroundEvaluator() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  worker_.join();
  ::close(wake_fd_);
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
  uint64_t count;
  // Clears the readiness; EAGAIN when nothing was signalled.
  (void)::read(wake_fd_, &count, sizeof count);
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
    const uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) != sizeof one) {
      FEDGE_LOG(kError, "server-side evaluation: cannot wake the event loop: %s",
                std::strerror(errno));
    }
  }
}

}  // namespace fedge::coordinator
