#ifndef FEDGE_OPS_STATUS_BOARD_H_
#define FEDGE_OPS_STATUS_BOARD_H_

// Where the coordinator's thread posts its RunStatus and the HTTP threads
// read it. Publishing swaps a pointer under a mutex held for nanoseconds, so
// however many requests arrive, the round loop never waits on them; readers
// get an immutable snapshot they can render at leisure.

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ops/run_status.h"

namespace fedge::ops {

class StatusBoard {
 public:
  // Thread-safe. `status` must not be null.
  void Publish(std::shared_ptr<const RunStatus> status, absl::Time now);
  // The newest status, or null before the first Publish. Thread-safe.
  std::shared_ptr<const RunStatus> Current() const;
  // When Publish last ran (InfinitePast before): /healthz reports a loop
  // that stopped publishing as stalled.
  absl::Time last_publish() const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const RunStatus> current_ ABSL_GUARDED_BY(mu_);
  absl::Time last_publish_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace fedge::ops

#endif  // FEDGE_OPS_STATUS_BOARD_H_
