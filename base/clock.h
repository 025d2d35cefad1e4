#ifndef FEDGE_BASE_CLOCK_H_
#define FEDGE_BASE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fedge {

// Time source injected into every piece of logic that has deadlines, so tests
// can drive time by hand. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock. Never destroyed.
  static Clock* Real();
};

// A clock that only moves when told to. Thread-safe.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedge

#endif  // FEDGE_BASE_CLOCK_H_
