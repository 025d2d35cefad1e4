#ifndef FEDGE_SIMULATIONS_SUPERVISOR_H_
#define FEDGE_SIMULATIONS_SUPERVISOR_H_

// fedge-sim's watch over its children: the coordinator runs to its end while
// the client processes are checked, so a child that dies stops the run at
// once instead of after --timeout.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "simulations/subprocess.h"

namespace fedge::sim {

struct ProcessRole {
  std::string name;
  Subprocess process;
  bool killed_by_design = false;  // --kill_clients
  std::unique_ptr<StderrTee> tee;  // its stderr, copied to ours
};

// Waits for the coordinator to exit (nullopt at `deadline`), watching the
// client processes meanwhile: one that fails when no fault was injected
// stops the simulation at once (every child killed) with Aborted naming it,
// how it ended and its last error line.
absl::StatusOr<std::optional<ExitInfo>> Supervise(Subprocess& coordinator,
                                                  std::vector<ProcessRole>& clients,
                                                  absl::Time deadline);

// How the client processes ended.
struct ClientTally {
  long peak_rss_kb = 0;
  int failures = 0;  // exits not injected
  int kills = 0;     // --kill_clients, as injected
};

// After the coordinator ended: waits up to 30 s for each client process
// (then kills it, with a warning) and counts how they ended.
ClientTally WaitForClients(std::vector<ProcessRole>& clients);

// A rank without the coordinator (--launcher=mpi): waits until every client
// process exited. One that fails when no fault was injected ends the wait at
// once (the others killed) with Aborted naming it and its last error;
// DeadlineExceeded at `deadline`.
absl::StatusOr<ClientTally> SuperviseClients(std::vector<ProcessRole>& clients,
                                             absl::Time deadline);

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SUPERVISOR_H_
