#ifndef FEDGE_COORDINATOR_RETRY_ADVISOR_H_
#define FEDGE_COORDINATOR_RETRY_ADVISOR_H_

// Tells check-in devices (protocol::kCapCheckIn) when to come back instead of
// letting them poll blindly: a device that is not needed now is asked to
// return when the open round is expected to end, at a random point of the
// following window, so a fleet's check-ins spread out and arrive while the
// coordinator collects the next cohort.
//
// The expected end of a round is its start plus the mean duration of recent
// completed rounds (an exponential moving average), never past its deadline;
// before any round completed it is the deadline. Time is passed in.

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "protocol/messages.h"

namespace fedge::coordinator {

class RetryAdvisor {
 public:
  // `window`: how widely returns are spread (RetryLater.window_ms).
  explicit RetryAdvisor(absl::Duration window) : window_(window) {}

  // A round took `duration` (completed rounds only: a failed round's length
  // says little about the next).
  void OnRoundCompleted(absl::Duration duration);

  // When a device should come back. `open_round` is the open round's start
  // and deadline; nullopt when no round is open (come back within the window).
  struct OpenRound {
    absl::Time start;
    absl::Time deadline;
  };
  protocol::RetryLater Advise(absl::Time now, std::optional<OpenRound> open_round,
                              std::string reason) const;

  // The moving average of completed round durations; nullopt before one.
  std::optional<absl::Duration> mean_round() const { return mean_round_; }

 private:
  const absl::Duration window_;
  std::optional<absl::Duration> mean_round_;
};

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_RETRY_ADVISOR_H_
