#include "simulations/supervisor.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fedge::sim {

absl::StatusOr<std::optional<ExitInfo>> Supervise(Subprocess& coordinator,
                                                  std::vector<ProcessRole>& clients,
                                                  absl::Time deadline) {
  while (true) {
    if (std::optional<ExitInfo> e = coordinator.Wait(absl::Milliseconds(100))) return e;
    for (ProcessRole& c : clients) {
      if (c.killed_by_design) continue;
      std::optional<ExitInfo> e = c.process.Wait(absl::ZeroDuration());
      if (!e.has_value() || e->ok()) continue;
      coordinator.Kill(SIGKILL);
      coordinator.Wait();
      for (ProcessRole& other : clients) {
        other.process.Kill(SIGKILL);
        other.process.Wait();
      }
      return absl::AbortedError(absl::StrCat(
          c.name, " (pid ", c.process.pid(), ") ", e->ToString(),
          " while the coordinator was running; its last error: ",
          c.tee ? c.tee->last_error() : std::string("(not captured)")));
    }
    if (absl::Now() >= deadline) return std::optional<ExitInfo>();
  }
}

}  // namespace fedge::sim
