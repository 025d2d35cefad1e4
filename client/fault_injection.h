#ifndef FEDGE_CLIENT_FAULT_INJECTION_H_
#define FEDGE_CLIENT_FAULT_INJECTION_H_

// Test-only faults for fault-injected simulations (fedge-sim --kill_clients,
// --stragglers), injected through the Trainer seam so they hit a precise
// phase of a precise round without touching the protocol code. Enabled only
// by fedge-client --inject_fault; a device never sets it.
//
// Spec: comma-separated faults, each one of
//   kill_during_training:ROUND  SIGKILL this process when it starts training
//                               its first task of round >= ROUND;
//   kill_before_upload:ROUND    the same once that training is done, before
//                               the update is sent;
//   delay_upload:DURATION       every round, wait DURATION (absl format: 5s,
//                               300ms) after training before the update is
//                               sent: a straggler. The wait ends early if the
//                               round is abandoned.
//   kill_before_unmasking:ROUND SIGKILL this process when, in a secure round
//                               >= ROUND, the coordinator asks it for its
//                               unmasking shares: after its masked input was
//                               sent, before it answers. This one is not in
//                               the Trainer's path: ArmProcessFaults arms it
//                               for the whole process and SecureSession calls
//                               OnUnmaskingRequested.
// A process hosting several logical clients dies as a whole, as a crashed
// device would.

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/trainer.h"

namespace fedge::client {

struct FaultPlan {
  std::optional<uint64_t> kill_during_training_round;
  std::optional<uint64_t> kill_before_upload_round;
  absl::Duration upload_delay = absl::ZeroDuration();
  std::optional<uint64_t> kill_before_unmasking_round;
  bool empty() const {
    return !kill_during_training_round && !kill_before_upload_round &&
           upload_delay == absl::ZeroDuration() && !kill_before_unmasking_round;
  }
};

// InvalidArgument naming the bad part.
absl::StatusOr<FaultPlan> ParseFaultPlan(absl::string_view spec);

// `trainer` with `plan`'s training and upload faults.
std::unique_ptr<Trainer> WithFaults(std::unique_ptr<Trainer> trainer, FaultPlan plan);

// Arms `plan`'s faults that strike outside the Trainer (kill_before_unmasking)
// for the whole process. Call at start-up, before any round; thread-safe.
void ArmProcessFaults(const FaultPlan& plan);

// SecureSession calls this when the coordinator asks for round `round`'s
// unmasking shares. SIGKILLs the process when kill_before_unmasking is armed
// for a round <= `round`; otherwise does nothing. Thread-safe.
void OnUnmaskingRequested(uint64_t round);

}  // namespace fedge::client

#endif  // FEDGE_CLIENT_FAULT_INJECTION_H_
