#ifndef FEDGE_SIMULATIONS_SIM_KEYS_H_
#define FEDGE_SIMULATIONS_SIM_KEYS_H_

// The keys of a simulated deployment, made fresh for each run as an operator
// would with fedge-keygen: a coordinator key, one device key per client
// process (each process is one device hosting several logical clients), and
// an allow-list enrolling each device for exactly its client ids.
//
// Under --launcher=mpi each rank makes its own devices' keys and only the
// public parts travel (MakeDeviceKey, then MakeCoordinatorKeys on rank 0):
// no secret key crosses the MPI fabric.

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

struct DeviceKeyFiles {
  std::string key_path;    // DIR/device-I.key (secret)
  std::string public_text; // the .pub file's contents
};
// Device `index`'s key pair under `dir` (created if missing).
absl::StatusOr<DeviceKeyFiles> MakeDeviceKey(const std::string& dir, size_t index);

// The coordinator's key and the allow-list enrolling device i (public key
// file text `device_public[i]`) for `devices[i]`. device_keys stays empty.
absl::StatusOr<SimKeys> MakeCoordinatorKeys(const std::string& dir,
                                            const std::vector<std::vector<uint64_t>>& devices,
                                            const std::vector<std::string>& device_public);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SIM_KEYS_H_
