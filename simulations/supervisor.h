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

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_SUPERVISOR_H_
