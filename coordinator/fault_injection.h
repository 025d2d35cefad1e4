#ifndef FEDGE_COORDINATOR_FAULT_INJECTION_H_
#define FEDGE_COORDINATOR_FAULT_INJECTION_H_

// Test-only faults of fedge-coordinator --inject_fault (fault-injected
// simulations: fedge-sim --kill_coordinator_at_round). Each makes the process
// SIGKILL itself at a precise point of a precise round, so a test restarts it
// from its --state_dir at a known spot without watching logs or clocks.
//
// Spec: one of
//   kill_after_checkpoint:ROUND  right after that round's checkpoint is
//                                durable, before its metrics line;
//   kill_after_updates:ROUND:N   mid-round: as soon as round ROUND has
//                                accepted N updates and is still open, i.e.
//                                with N below the number that closes it. In
//                                a secure round the updates are the masked
//                                inputs (SecAgg's MaskedInput phase), so the
//                                round dies with N inputs folded into its sum
//                                and the others still training.
// A restarted coordinator is not given the fault again.

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/coordinator.h"

namespace fedge::coordinator {

struct CoordinatorFaultPlan {
  std::optional<uint64_t> kill_after_checkpoint_round;
  struct MidRound {
    uint64_t round = 0;
    uint64_t updates = 0;  // >= 1
  };
  std::optional<MidRound> kill_after_updates;
};

// An empty spec is no fault. InvalidArgument naming the bad part otherwise.
absl::StatusOr<CoordinatorFaultPlan> ParseCoordinatorFaultPlan(absl::string_view spec);

// True when `coordinator` stands where `plan` says to die mid-round: its open
// round is the planned one and has accepted the planned number of updates
// (plain) or masked inputs (secure).
bool ReachedMidRoundFault(const CoordinatorFaultPlan& plan, const Coordinator& coordinator);

}  // namespace fedge::coordinator

#endif  // FEDGE_COORDINATOR_FAULT_INJECTION_H_
