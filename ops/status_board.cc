#include "ops/status_board.h"

namespace fedge::ops {

void DurationHistogram::Add(double seconds) {
  size_t i = 0;
  while (i < kRoundSecondsBucketCount && seconds > kRoundSecondsBuckets[i]) ++i;
  ++counts[i];
  sum += seconds;
  ++count;
}

void StatusBoard::Publish(std::shared_ptr<const RunStatus> status, absl::Time now) {
  absl::MutexLock lock(&mu_);
  current_ = std::move(status);
  last_publish_ = now;
}

std::shared_ptr<const RunStatus> StatusBoard::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Time StatusBoard::last_publish() const {
  absl::MutexLock lock(&mu_);
  return last_publish_;
}

}  // namespace fedge::ops
