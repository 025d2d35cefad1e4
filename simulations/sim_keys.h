#ifndef FEDGE_SIMULATIONS_SIM_KEYS_H_
#define FEDGE_SIMULATIONS_SIM_KEYS_H_

// The keys of a simulated deployment, made fresh for each run as an operator
// would with fedge-keygen: a coordinator key, one device key per client
// process (each process is one device hosting several logical clients), and
// an allow-list enrolling each device for exactly its client ids.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fedge::sim {

struct SimKeys {
  std::string coordinator_key;          // coordinator.key (secret)
  std::string coordinator_pub;          // coordinator.pub
  std::string allowlist;                // allowlist.txt
  std::vector<std::string> device_keys; // one per entry of `devices`, in order
};

// Writes the files under `dir` (created if missing; existing keys are
// replaced). `devices[i]` are the client ids device i hosts.
absl::StatusOr<SimKeys> MakeSimKeys(const std::string& dir,
                                    const std::vector<std::vector<uint64_t>>& devices);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SIM_KEYS_H_
