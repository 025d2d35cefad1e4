#include "simulations/supervisor.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"

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

namespace {

void Count(const ProcessRole& c, const ExitInfo& e, ClientTally* tally) {
  if (c.killed_by_design && e.signal == SIGKILL) {
    ++tally->kills;
  } else if (!e.ok()) {
    ++tally->failures;
  }
  tally->peak_rss_kb = std::max(tally->peak_rss_kb, e.max_rss_kb);
}

}  // namespace

ClientTally WaitForClients(std::vector<ProcessRole>& clients) {
  ClientTally tally;
  for (ProcessRole& c : clients) {
    std::optional<ExitInfo> e = c.process.Wait(absl::Seconds(30));
    if (!e) {
      c.process.Kill(SIGKILL);
      e = c.process.Wait();
      FEDGE_LOG(kWarning, "%s did not exit after the coordinator finished; killed", c.name);
    }
    Count(c, *e, &tally);
  }
  return tally;
}

absl::StatusOr<ClientTally> SuperviseClients(std::vector<ProcessRole>& clients,
                                             absl::Time deadline) {
  ClientTally tally;
  std::vector<bool> ended(clients.size(), false);
  size_t left = clients.size();
  while (left > 0) {
    bool progressed = false;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (ended[i]) continue;
      ProcessRole& c = clients[i];
      std::optional<ExitInfo> e =
          c.process.Wait(progressed ? absl::ZeroDuration() : absl::Milliseconds(100));
      if (!e.has_value()) continue;
      ended[i] = true;
      --left;
      progressed = true;
      Count(c, *e, &tally);
      if (e->ok() || c.killed_by_design) continue;
      for (size_t j = 0; j < clients.size(); ++j) {
        if (ended[j]) continue;
        clients[j].process.Kill(SIGKILL);
        clients[j].process.Wait();
      }
      return absl::AbortedError(absl::StrCat(
          c.name, " (pid ", c.process.pid(), ") ", e->ToString(), "; its last error: ",
          c.tee ? c.tee->last_error() : std::string("(not captured)")));
    }
    if (left > 0 && absl::Now() >= deadline) {
      for (size_t j = 0; j < clients.size(); ++j) {
        if (!ended[j]) clients[j].process.Kill(SIGKILL);
      }
      return absl::DeadlineExceededError("client processes still running at --timeout");
    }
  }
  return tally;
}

}  // namespace fedge::sim
