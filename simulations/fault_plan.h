#ifndef FEDGE_SIMULATIONS_FAULT_PLAN_H_
#define FEDGE_SIMULATIONS_FAULT_PLAN_H_

// Which client processes of a fault-injected simulation crash or straggle,
// and how (fedge-sim --kill_clients, --kill_phase, --kill_round, --stragglers,
// --straggler_delay). The faults themselves run inside fedge-client
// (client/fault_injection.h, --inject_fault), so they hit an exact phase of
// an exact round.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fedge::sim {

struct ClientFaultOptions {
  double kill_fraction = 0;          // of client processes, rounded to nearest
  // training | upload | random (training or upload) | unmasking (secure
  // rounds: on the coordinator's request for the unmasking shares)
  std::string kill_phase = "training";
  uint64_t kill_round = 2;
  double straggler_fraction = 0;     // of the processes not killed
  absl::Duration straggler_delay = absl::Seconds(5);
  uint64_t seed = 0;
};

struct ProcessFaults {
  std::string inject_fault;  // fedge-client --inject_fault value; empty: none
  bool killed = false;       // will SIGKILL itself
};

// One entry per client process. InvalidArgument for fractions outside [0, 1]
// or an unknown phase.
absl::StatusOr<std::vector<ProcessFaults>> PlanClientFaults(size_t processes,
                                                            const ClientFaultOptions& options);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_FAULT_PLAN_H_
